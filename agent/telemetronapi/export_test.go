package telemetronapi

// RecordOf is recordOf for the tests: the record a history entry was
// booked from, as the uplink maps it.
var RecordOf = recordOf
