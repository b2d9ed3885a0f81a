# tickraft build. `make tools` installs what the other targets need; every
# target that needs a tool depends on it, so a fresh machine needs nothing
# installed by hand.

GO          ?= go
BIN         := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)

# Pinned tool versions. protoc comes from the distribution's
# protobuf-compiler package (Debian bookworm ships 3.21.12); the Go plugins
# come from the module proxy at these versions.
PROTOC_GEN_GO_VERSION := v1.36.12
STATICCHECK_VERSION   := v0.8.2

GOFILES = $(shell git ls-files --cached --others --exclude-standard '*.go')

# Modules besides the library's own: they keep their dependencies (etcd raft
# for the side-by-side benchmark) away from library users.
SUBMODULES := $(patsubst %/go.mod,%,$(wildcard examples/*/go.mod bench/go.mod bench/etcd36/go.mod bench/e2e/go.mod))

.PHONY: all tools fmt fmt-check lint vet staticcheck test proto proto-check sim fuzz crash bench bench-e2e tools-e2e microbench demo demo-inprocess chaos clean

all: test

## tools: install protoc, protoc-gen-go and staticcheck at pinned versions
tools: $(BIN)/protoc-gen-go $(BIN)/staticcheck $(BIN)/.protoc

$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/.protoc:
	@mkdir -p $(BIN)
	@if ! command -v protoc >/dev/null 2>&1; then \
		echo "installing protoc from the distribution's protobuf-compiler package"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler >/dev/null; \
	fi
	@protoc --version
	@touch $@

## fmt: format every Go file
fmt:
	gofmt -s -w $(GOFILES)

fmt-check:
	@out=$$(gofmt -s -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt -s would change:"; echo "$$out"; exit 1; fi

## lint: gofmt check, go vet and staticcheck
lint: fmt-check vet staticcheck

vet:
	$(GO) vet ./...
	$(GO) vet -tags invariants ./...
	@for m in $(SUBMODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done

staticcheck: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...
	@for m in $(SUBMODULES); do echo "staticcheck ($$m)"; (cd $$m && $(BIN)/staticcheck ./...) || exit 1; done

## test: lint, the stale-generated-code check, every test with the race detector and invariant checks, and long simulator runs
# (long runs leave tens of thousands of delayed messages in flight: they found the stale-rejection storms)
test: lint proto-check
	$(GO) test -race -tags invariants ./...
	$(GO) test -tags raftbugs ./rafttest/sim/ -run '^TestCheckersCatch'
	$(GO) test -tags invariants ./rafttest/sim/ -run '^(TestSimulation|TestLeaseReads)$$' -sim.seeds=100 -sim.first=100001 -sim.steps=20000
	$(GO) test -tags invariants ./rafttest/sim/ -run '^TestSimulationWAL$$' -sim.walseeds=50 -sim.first=100001 -sim.steps=20000
	@for m in $(SUBMODULES); do echo "go test ($$m)"; (cd $$m && $(GO) test -race ./...) || exit 1; done

## proto: regenerate raftpb/raft.pb.go from raftpb/raft.proto
# The file is compiled as $(PROTO_FILE), its Go import path, because
# protobuf-go registers every file path process-wide: a bare "raft.proto"
# would collide with other raft libraries linked into the same binary.
PROTO_FILE := github.com/tickraft/raft/raftpb/raft.proto
define gen_proto
	mkdir -p $(1)/src/$(dir $(PROTO_FILE)) $(1)/out && \
	cp raftpb/raft.proto $(1)/src/$(PROTO_FILE) && \
	protoc -I $(1)/src --go_out=$(1)/out --go_opt=paths=source_relative $(PROTO_FILE)
endef

proto: tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(call gen_proto,$$tmp) && cp $$tmp/out/$(dir $(PROTO_FILE))raft.pb.go raftpb/raft.pb.go

## proto-check: fail if the committed generated code differs from what raft.proto generates
proto-check: tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(call gen_proto,$$tmp) && \
	if ! diff -u -I '^// 	protoc ' raftpb/raft.pb.go $$tmp/out/$(dir $(PROTO_FILE))raft.pb.go; then \
		echo "raftpb/raft.pb.go is stale: run 'make proto' and commit the result"; exit 1; \
	fi; echo "raftpb/raft.pb.go is up to date"

## sim: the randomized fault simulator over SEEDS seeds (default 2000), then the same seeds with lease-based reads
SEEDS ?= 2000
sim:
	$(GO) test ./rafttest/sim/ -run '^(TestSimulation|TestLeaseReads)$$' -sim.seeds=$(SEEDS) -timeout 0 -v | grep -v '^        ' | tail -20

## fuzz: each native fuzz target for FUZZTIME (default 1m)
FUZZTIME ?= 1m
# package:target; the wal's inputs are whole segments, so minimizing each
# new input is capped (by default it would eat the whole FUZZTIME).
FUZZ_TARGETS := .:FuzzStepMessage .:FuzzAPISequence ./wal:FuzzRecover ./transport:FuzzFrameDecoder ./internal/crc32c:FuzzUpdate
fuzz:
	@for t in $(FUZZ_TARGETS); do p=$${t%%:*}; f=$${t#*:}; echo "fuzzing $$f ($$p) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $$p || exit 1; done

## crash: the wal's crash-point test at depth (CRASHSEEDS seeds of CRASHSTEPS operations, crashed after each file operation)
CRASHSEEDS ?= 200
CRASHSTEPS ?= 100
crash:
	$(GO) test ./wal/ -run '^(TestCrashAtEveryPoint|TestCorruptionReported)$$' -count 1 -timeout 0 \
		-wal.crashseeds=$(CRASHSEEDS) -wal.crashsteps=$(CRASHSTEPS) -wal.crashfirst=1000 -v | grep -v '^=== RUN'

## bench: tickraft side by side with etcd raft (bench/ module), the table the README shows
bench:
	cd bench && $(GO) run ./cmd/raftbench $(BENCHFLAGS)

## tools-e2e: install the etcd server (Debian's etcd-server, 3.4.x) that bench-e2e measures raftkv against
tools-e2e:
	@command -v etcd >/dev/null || apt-get install -y etcd-server

## bench-e2e: raftkv (3 processes, wal fsync on, pebble) against the etcd server (3 members) on loopback, end to end; the README's second table (BENCHE2EFLAGS=-duration 10s etc.)
bench-e2e: tools-e2e
	cd bench/e2e && $(GO) run . $(BENCHE2EFLAGS)

## microbench: the library's own micro-benchmarks (RawNode, quorum, inflights, log, status)
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $(if $(COUNT),-count $(COUNT)) ./...

## demo: three real raftkv server processes on loopback: init, learners, membership, reads and writes on every node, SIGKILL of the leader, restart and catch-up by snapshot (DEMOFLAGS=-sm=memory for the in-memory state machine)
demo:
	cd examples/raftkv && $(GO) run ./cmd/raftkv-demo $(DEMOFLAGS)

## chaos: a seeded fault campaign against real raftkv processes, checked with porcupine and more (DURATION, default 10m; SEED, default random; CHAOSFLAGS, e.g. -lease-reads -nodes 5 -sm memory)
DURATION ?= 10m
chaos:
	cd examples/raftkv && $(GO) run ./cmd/raftkv-chaos -duration $(DURATION) $(if $(SEED),-seed $(SEED)) $(CHAOSFLAGS)

## demo-inprocess: an in-process cluster telling its story: elections, replication, a partition, a learner, a snapshot, a read
demo-inprocess:
	cd examples/demo && $(GO) run .

clean:
	rm -rf $(BIN)
