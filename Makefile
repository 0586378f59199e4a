# importd — run `make help` for the targets.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 10s
# Size of the full fault run (make faults): records per test, faults of each kind.
FAULTS_RECORDS ?= 200000
FAULTS_KILLS   ?= 4

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: ## Run every test (needs PostgreSQL; TEST_DATABASE_URL overrides the default).
	$(GO) test -count=1 $(PKGS)

.PHONY: race
race: ## Run every test under the race detector.
	$(GO) test -race -count=1 $(PKGS)

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s).
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzNDJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzJSONArray$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./catalog -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./catalog -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./catalog -run '^$$' -fuzz '^FuzzAttributeValue$$' -fuzztime $(FUZZTIME)
	$(GO) test ./api -run '^$$' -fuzz '^FuzzDecodeCursor$$' -fuzztime $(FUZZTIME)
	$(GO) test ./api -run '^$$' -fuzz '^FuzzServer$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/bus -run '^$$' -fuzz '^FuzzDecodeWork$$' -fuzztime $(FUZZTIME)

.PHONY: faults
faults: ## Fault suite, full size: kill -9, NATS/PostgreSQL restarts, lost work messages, duplicates, a 3-node cluster, 2 of each role (FAULTS_RECORDS, FAULTS_KILLS).
	$(GO) test ./internal/faults -run . -count=1 -v -timeout 90m -faults.records $(FAULTS_RECORDS) -faults.kills $(FAULTS_KILLS)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

BENCH_RECORDS ?= 1000000

.PHONY: bench
bench: ## End-to-end benchmark against the same-run COPY and JetStream limits (BENCH_RECORDS, default 1M; writes bench.json).
	$(GO) run ./cmd/importbench -records $(BENCH_RECORDS) -json bench.json

.PHONY: bench-micro
bench-micro: ## Micro-benchmarks: decoders, validator, and ingest of a generated delivery.
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./ingest ./catalog

.PHONY: up
up: ## Start NATS, PostgreSQL and every role with docker compose.
	docker compose up --build

.PHONY: observe
observe: ## make up, plus Prometheus (localhost:9090) and Grafana (localhost:3000) with importd's dashboard and alerts.
	docker compose --profile observability up --build

.PHONY: dev
dev: ## Run the whole pipeline locally (go run ./cmd/importd dev).
	$(GO) run ./cmd/importd dev

.PHONY: build
build: ## Build importd and importctl into ./bin.
	$(GO) build -o bin/ ./cmd/...
