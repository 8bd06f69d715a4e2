package config

// validate checks [reader]; lines are the configured line ids.
func (r Reader) validate(bad badFunc, lines map[int]bool) {
	if r.Port != "" && r.I2C != "" {
		bad("reader.i2c", "a reader is on a serial port or on I2C, not both")
	}
	if a := r.I2CAddr; a < 0 || a > 0x7f {
		bad("reader.i2c_addr", "must be a 7-bit address (the PN532's is 0x24)")
	}
	for _, n := range r.Lines {
		if !lines[n] {
			bad("reader.lines", "line %d is not configured", n)
		}
	}
}
