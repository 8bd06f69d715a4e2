package config

// validate checks [log].
func (l Log) validate(bad badFunc) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", l.Format)
	}
}
