# tapagent build and test targets. Release binaries are static (no cgo).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
FUZZTIME ?= 30s
# Debian versions must start with a digit: v1.2.0-3-gabc -> 1.2.0+3+gabc; an
# untagged tree counts its commits so later builds sort later.
DEB_VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && echo "$${v\#v}" | tr - + || echo "0.0.0~git$$(git rev-list --count HEAD 2>/dev/null || echo 0).$$(git rev-parse --short HEAD 2>/dev/null || echo dev)")
# nfpm is pinned: a newer release needs modules the proxy here refuses.
NFPM := go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0
# staticcheck is pinned: v0.8.2 is the newest release that builds with Go 1.26.
STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build build-arm build-arm64 build-amd64 cross package package-test test lint sim bench fuzz screenshots clean

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

# .deb packages for armhf, arm64 and amd64 in dist/ (docs/install.md).
package: cross
	@rm -f dist/*.deb
	@for a in arm7:armv7 arm64:arm64 amd64:amd64; do \
		arch=$${a%%:*}; bin=$${a#*:}; \
		mkdir -p dist/pkg && cp dist/tapagent-linux-$$bin dist/pkg/tapagent && \
		PKG_ARCH=$$arch VERSION=$(DEB_VERSION) $(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/ || exit 1; \
	done
	@rm -rf dist/pkg
	@ls -l dist/*.deb

# Inspects the packages in dist/; TAPAGENT_TEST_DPKG=1 also installs,
# upgrades, removes and purges the amd64 one on this machine (CI does).
package-test:
	TAPAGENT_TEST_DEBS=$(CURDIR)/dist go test -count=1 -v -run 'TestPackage' ./packaging

# The whole test suite: vet (also for 32-bit ARM, where int is 32 bits and
# an oversized constant or a mixed-width product does not compile), then
# every test with the race detector.
test: lint
	GOOS=linux GOARCH=arm GOARM=7 go vet ./...
	go test -race -count=1 ./...

# go vet and staticcheck (every check staticcheck runs by default: bugs,
# simplifications, style, unused code).
lint:
	go vet ./...
	$(STATICCHECK) ./...

# The agent on the simulated wall with the built-in demo.
sim:
	go run ./cmd/tapagent sim

# Benchmarks (go test -bench) and whole-system figures (bench/).
bench:
	go test -run '^$$' -bench . -benchtime 2s ./flow ./storage
	go test -run '^$$' -bench CapToClose -benchtime 500x ./device
	go test -run '^$$' -bench CheckpointAgeUnderLoad -benchtime 3x ./device
	go test -run TestPortionAccuracy -v ./device | grep -E 'predictive|ok'
	go test -run '^$$' -bench Drain100k -benchtime 1x ./agent/serversync
	go test -run '^$$' -bench PourCompletion -benchtime 500x ./agent/serversync
	go test -run '^$$' -bench FreePourPrice -benchtime 2s ./ttg
	go test -run '^$$' -bench Parse -benchtime 2s ./evadts
	go test -run '^$$' -bench 'Pages|FirstLiveUpdate' -benchtime 200x ./web
	go test -run '^$$' -bench Transfer20K -benchtime 1x ./evadts/dexlink
	go test -run '^$$' -bench 'CommandRoundTrip|Telemetry' -benchtime 2000x ./diag
	go test -run '^$$' -bench . -benchtime 2s ./httpguard ./agent/cashregister
	go test -run '^$$' -bench TapToAuthorised -benchtime 30x ./nfc/pn532
	go test -run '^$$' -bench PresentToAuthorised -benchtime 30x ./agent/cardpay
	go test -run '^$$' -bench TapLook ./agent/cardpay
	go test -run '^$$' -bench 'PollCycle$$' ./agent/terminalsale
	go test -run '^$$' -bench PollCycleCashBacklog -benchtime 2000x ./agent/terminalsale
	BENCH_DIR=$${BENCH_DIR:-/dev/shm} go test -run '^$$' -bench ThirtyBusyDays -benchtime 1x -timeout 30m ./agent/retention
	go test -run '^$$' -bench ApprovedToValveOpen -benchtime 30x ./agent/terminalsale
	go test -run '^$$' -bench IdleCycle -benchtime 200x ./agent/exesale
	go run ./bench

# Screenshots of the dashboard's main pages on the simulated wall, rendered
# by chromium (docs/operations.md shows them).
screenshots:
	mkdir -p docs/img
	TAPAGENT_SCREENSHOTS=$(CURDIR)/docs/img go test ./web -run '^TestScreenshots$$' -count=1 -v

# Run every fuzz target for FUZZTIME each.
fuzz:
	go test ./flow -run '^$$' -fuzz '^FuzzLine$$' -fuzztime $(FUZZTIME)
	go test ./storage -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	go test ./history -run '^$$' -fuzz '^FuzzParseWhen$$' -fuzztime $(FUZZTIME)
	go test ./storage -run '^$$' -fuzz '^FuzzReadOld$$' -fuzztime $(FUZZTIME)
	go test ./config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./board -run '^$$' -fuzz '^FuzzParseProfile$$' -fuzztime $(FUZZTIME)
	go test ./sim -run '^$$' -fuzz '^FuzzParseScenario$$' -fuzztime $(FUZZTIME)
	go test ./ttg -run '^$$' -fuzz '^FuzzUnitsFromConfig$$' -fuzztime $(FUZZTIME)
	go test ./sim/ttgserver -run '^$$' -fuzz '^FuzzTransactionBody$$' -fuzztime $(FUZZTIME)
	go test ./agent/cashregister -run '^$$' -fuzz '^FuzzCreditBody$$' -fuzztime $(FUZZTIME)
	go test ./agent/clientcontrol -run '^$$' -fuzz '^FuzzClientControl$$' -fuzztime $(FUZZTIME)
	go test ./agent/serversync -run '^$$' -fuzz '^FuzzOnlineCard$$' -fuzztime $(FUZZTIME)
	go test ./evadts -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./evadts/dexlink -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	go test ./diag -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $(FUZZTIME)
	go test ./agent/diagcmd -run '^$$' -fuzz '^FuzzDesired$$' -fuzztime $(FUZZTIME)
	go test ./agent/cardpay -run '^$$' -fuzz '^FuzzSettleKeepsTheCharge$$' -fuzztime $(FUZZTIME)
	go test ./agent/telemetronapi -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME)
	go test ./agent/telemetronapi -run '^$$' -fuzz '^FuzzTokenRequest$$' -fuzztime $(FUZZTIME)
	go test ./nfc/desfire -run '^$$' -fuzz '^FuzzCardAnswers$$' -fuzztime $(FUZZTIME)
	go test ./nfc/pn532 -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	go test ./web -run '^$$' -fuzz '^FuzzParseUsers$$' -fuzztime $(FUZZTIME)
	go test ./web -run '^$$' -fuzz '^FuzzSafeNext$$' -fuzztime $(FUZZTIME)
	go test ./nfc/cardapp -run '^$$' -fuzz '^FuzzDecodeInfo$$' -fuzztime $(FUZZTIME)
	go test ./payment/mdb -run '^$$' -fuzz '^FuzzReply$$' -fuzztime $(FUZZTIME)
	go test ./payment/mdb -run '^$$' -fuzz '^FuzzQibixxLine$$' -fuzztime $(FUZZTIME)
	go test ./payment/mdb -run '^$$' -fuzz '^FuzzUARTReply$$' -fuzztime $(FUZZTIME)
	go test ./firmware -run '^$$' -fuzz '^FuzzManifest$$' -fuzztime $(FUZZTIME)
	go test ./smartnow -run '^$$' -fuzz '^FuzzReplies$$' -fuzztime $(FUZZTIME)
	go test ./telemetron -run '^$$' -fuzz '^FuzzReplies$$' -fuzztime $(FUZZTIME)
	go test ./telemetron -run '^$$' -fuzz '^FuzzEncodeReport$$' -fuzztime $(FUZZTIME)
	go test ./smartnow -run '^$$' -fuzz '^FuzzMachineReplies$$' -fuzztime $(FUZZTIME)
	go test ./agent/smartnowsync -run '^$$' -fuzz '^FuzzParseSettings$$' -fuzztime $(FUZZTIME)
	go test ./agent/voucherpay -run '^$$' -fuzz '^FuzzLineParser$$' -fuzztime $(FUZZTIME)
	go test ./flow -run '^$$' -fuzz '^FuzzParseVol$$' -fuzztime $(FUZZTIME)
	go test ./agent/localapi -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $(FUZZTIME)
	go test ./agent/localapi -run '^$$' -fuzz '^FuzzParseReportsQuery$$' -fuzztime $(FUZZTIME)
	go test ./history -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	go test ./sim/smartnow -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME)
	go test ./sim/telemetron -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME)
	go test ./sim/touchtopup -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME)
	go test ./touchtopup -run '^$$' -fuzz '^FuzzReplies$$' -fuzztime $(FUZZTIME)
	go test ./agent/accountpay -run '^$$' -fuzz '^FuzzParseAccount$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf dist data
