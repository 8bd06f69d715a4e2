# tapagent build and test targets. Release binaries are static (no cgo).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
FUZZTIME ?= 30s

.PHONY: all build build-arm build-arm64 build-amd64 cross test sim bench fuzz clean

all: build

build:
	$(GOBUILD) -o dist/tapagent ./cmd/tapagent

build-arm:
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o dist/tapagent-linux-armv7 ./cmd/tapagent

build-arm64:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o dist/tapagent-linux-arm64 ./cmd/tapagent

build-amd64:
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o dist/tapagent-linux-amd64 ./cmd/tapagent

cross: build-arm build-arm64 build-amd64
	@ls -l dist/

# The whole test suite: vet, then every test with the race detector.
test:
	go vet ./...
	go test -race -count=1 ./...

# The agent on the simulated wall with the built-in demo.
sim:
	go run ./cmd/tapagent sim

# Benchmarks (go test -bench) and whole-system figures (bench/).
bench:
	go test -run '^$$' -bench . -benchtime 2s ./flow ./storage
	go test -run '^$$' -bench CapToClose -benchtime 500x ./device
	go test -run TestPortionAccuracy -v ./device | grep -E 'predictive|ok'
	go test -run '^$$' -bench Drain100k -benchtime 1x ./internal/uplink
	go test -run '^$$' -bench PourCompletion -benchtime 500x ./internal/uplink
	go test -run '^$$' -bench Parse -benchtime 2s ./evadts
	go test -run '^$$' -bench Transfer20K -benchtime 1x ./evadts/dexlink
	go test -run '^$$' -bench 'CommandRoundTrip|Telemetry' -benchtime 2000x ./diag
	go run ./bench

# Run every fuzz target for FUZZTIME each.
fuzz:
	go test ./flow -run '^$$' -fuzz '^FuzzLine$$' -fuzztime $(FUZZTIME)
	go test ./storage -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	go test ./config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./board -run '^$$' -fuzz '^FuzzParseProfile$$' -fuzztime $(FUZZTIME)
	go test ./sim -run '^$$' -fuzz '^FuzzParseScenario$$' -fuzztime $(FUZZTIME)
	go test ./ttg -run '^$$' -fuzz '^FuzzUnitsFromConfig$$' -fuzztime $(FUZZTIME)
	go test ./sim/ttgserver -run '^$$' -fuzz '^FuzzTransactionBody$$' -fuzztime $(FUZZTIME)
	go test ./pos -run '^$$' -fuzz '^FuzzCreditBody$$' -fuzztime $(FUZZTIME)
	go test ./remote -run '^$$' -fuzz '^FuzzClientControl$$' -fuzztime $(FUZZTIME)
	go test ./evadts -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./evadts/dexlink -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	go test ./diag -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $(FUZZTIME)
	go test ./internal/diaglink -run '^$$' -fuzz '^FuzzDesired$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf dist data
