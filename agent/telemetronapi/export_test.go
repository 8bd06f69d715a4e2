package telemetronapi

// MaxUserSessions is how many sessions one user holds at once.
const MaxUserSessions = maxUserSessions

// Sessions is how many sessions s holds.
func Sessions(s *Server) int { return s.tokens.sessions() }

// RecordOf is recordOf for the tests: the record a history entry was
// booked from, as the uplink maps it.
var RecordOf = recordOf
