// Package telemetron is a loopback emulator of the Telemetron API v2,
// written from its reference alone. The agent's Telemetron client is
// tested against it, so it is strict where the reference is.
//
// Documented resources (operator side):
//
//	POST /auth/                         OAuth2: grant_type password or refresh_token, client_id,
//	                                    client_secret, scope, username, password, refresh_token;
//	                                    in the query string or a JSON body
//	GET  /logout                        expires the token -> {"bye": "bye"}
//	GET  /v2/me, /v2/modems, /v2/modems/{id}
//	GET  /v2/vending_machines, /v2/vending_machines/{id}; PUT /v2/vending_machines/{id}
//	GET  /v2/vending_machines/{id}/events?since&until         7-day window, 14 days kept
//	GET  /v2/vending_machines/{id}/reports?since&until&cp1251&base64&port
//	GET  /v2/vending_machines/{id}/reports/{id|last|last_valid}?cp1251&base64&port
//	GET  /v2/vending_machines/{id}/loading; POST .../loading (add); POST .../inventory (loaded)
//	POST /v2/vending_machines/{id}/request {report|config}; GET .../request/{request_id}
//	GET  /v2/vending_machines/{id}/timestamp
//	GET  /v2/vending_machines/{id}/stats/vends/summary|products|payments; GET /v2/stats/vends/summary
//	GET  /v2/event_codes, /v2/vm_models
//
// Errors are {message, subcode, errors}; times are ISO 8601 with an
// offset, rendered in Options.Zone (default +03:00, the reference's
// current default).
//
// Assumed (the reference does not document the machine's side): the
// machine POSTs each document to the collection path it would be read
// from, in the same JSON shape the GET returns, and polls for its open
// data request:
//
//	POST /v2/vending_machines/{id}/events     [{date, code, payload}]
//	POST /v2/vending_machines/{id}/reports    {date, data, evadts_port}, data encoded as the
//	                                          query's cp1251 and base64 flags say (as on GET)
//	POST /v2/vending_machines/{id}/state      {state, service}: the machine object's fields
//	POST /v2/vending_machines/{id}/sales      [{time, layout_number, name, price, number, value,
//	                                          vend_type, payment_type}]: the vend statistics rows
//	POST /v2/vending_machines/{id}/timestamp  {last_service, last_collection}
//	POST /v2/vending_machines/{id}/config     the configuration snapshot (any JSON object)
//	GET  /v2/vending_machines/{id}/config     the last snapshot
//	GET  /v2/vending_machines/{id}/request    the open request {request_id, report, config}, 404 if none
//
// A posted report fulfils the open request's report flag, a posted
// config its config flag; when no flag is left the request is done and
// GET .../request/{request_id} answers 404. Resent identical events and
// sales rows are stored once (Options.StoreDuplicates stores them again);
// a refill or inventory with the created_at of one already stored is
// 400 {"message": "Duplicate", "subcode": "L102"}.
//
// Test control (not Telemetron's): GET/POST /_emulator/faults.
package telemetron
