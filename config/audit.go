package config

// validate checks [audit].
func (a Audit) validate(bad badFunc) {
	switch a.ResetOnRead {
	case "interim", "full":
	default:
		bad("audit.reset_on_read", "%q is not interim or full", a.ResetOnRead)
	}
	switch a.Charset {
	case "ascii", "cp1251":
	default:
		bad("audit.charset", "%q is not ascii or cp1251", a.Charset)
	}
	if id := a.CommID; id != "" && len(id) != 10 {
		bad("audit.comm_id", "%q must be 10 characters (3-letter maker code + 7 digits)", id)
	}
}
