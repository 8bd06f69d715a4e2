// Package smartnow is a loopback emulator of the SmartNow cloud API,
// written from the SmartNow API reference alone (the agent's client is
// tested against it, so it is strict where the reference is).
//
// The reference gives request and reply shapes but has lost most paths.
// The paths here, the only place they are written in code, are:
//
// Documented path:
//
//	POST /auth/login                                {username, password} -> {access_token, refresh_token}
//
// Assumed paths, which the agent's SmartNow client uses too:
//
//	POST /auth/refresh                              {refresh_token} -> {access_token, refresh_token}
//	POST /revenuetransaction                        a revenue transaction with its nested
//	                                                "paymentTransactions" (or "paymenttransactions",
//	                                                the populate alias); 201 {id}; a duplicate
//	                                                "remote" on the same machine -> 409 {message, id}
//	POST /log                                       a log; 201 {id}; duplicate "remote" -> 409 {message, id}
//	POST /voucher/{code}/validate                   {deviceId, lockDuration, demand}
//	POST /voucher/{code}/redeem                     {deviceId, order{id, amount, items}, demand}
//	GET  /machine/{id}/commands                     the machine's pending commands
//	POST /machine/{id}/commands/{commandId}/result  {success, message}: the command's outcome
//
// Assumed paths for the documented operator resources:
//
//	GET  /machine, /revenuetransaction, /paymenttransaction, /log, /campaign, /voucher
//	     lists with limit (at most 100, but any for /paymenttransaction), skip, where[<col>]=v or where[<col>][<op>]=v
//	     (op eq ne gt gte lt lte like in) and sort=<col> [asc|desc]
//	GET  /machine/{id}, /revenuetransaction/{id}, /log/{id}, /campaign/{id}, /voucher/{id}
//	GET  /revenuetransaction/{id}/paymenttransactions
//	GET  /voucher/{id}/logs                         the voucher's validate and redeem actions
//	POST /machine                                   create a machine -> {id}
//	GET, PUT /machine/hostname/{hostname}/config    the machine's stored configuration {config}
//	GET  /machine/{id}/product                      the machine's assortment (PLU, name, price)
//	POST /machine/{id}/product                      add a product -> {id}
//	PUT  /machine/{id}/assortment                   replace the assortment
//	GET, PUT /openinghours/machine/{id}             [{day, startTime, endTime}]
//	POST /command/{command}/hostname/{hostname}  {params: [int]}: queue a command
//	POST /campaign                                  create a campaign -> {id}
//	POST /voucher                                   create vouchers (count > 1: empty body)
//
// A machine identifies itself in a revenue transaction or a log by
// "machine" (its id) or, as an assumed alternative, by "hostname".
// Errors are {"message": "..."} with the HTTP status; an expired, forged
// or missing access token is 401.
//
// Test control (not SmartNow's): GET/POST /_emulator/faults.
package smartnow
