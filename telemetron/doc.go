// Package telemetron is the agent's side of the Telemetron cloud: the
// mapping of the agent's records, events, kegs and wall state to the
// documents Telemetron's API v2 shows per machine (vend rows, EVA-DTS
// style events, machine state and service flags, load levels, refills
// and inventories, EVA-DTS reports), the OAuth2 client (password grant,
// refresh before expiry, login again on 401) and the outbox sink that
// posts them. The reference documents the operator's read API only; the
// machine's side is assumed to POST each document to the collection path
// it is read from, in the GET's shape (config [telemetron] paths,
// docs/clouds.md). The mapping functions are pure, so that the agent's
// own API can serve the same documents.
package telemetron
