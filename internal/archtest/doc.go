// Package archtest holds the architecture test: the import rules that keep
// the folder tree the architecture of docs/architecture.md (run with the
// rest of `make test`). It has no code of its own.
package archtest
