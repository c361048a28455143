# Switchyard. `make dev` runs everything locally; `make test` runs every test against a real Postgres.
# Both start this checkout's local Postgres with pgvector (installing it on first use, as root) unless
# DATABASE_URL is set.

GO        ?= go
WITH_DB   := infra/with-db.sh
# The test timeout is generous for a cold first run on 2 cores; a normal run takes a few minutes.
# -p 3: three test binaries at a time, one more than go test's default on two cores. Most of a test's
# time is spent waiting on Postgres, child processes or Chromium, so with two the cores sat half idle:
# on a clean clone with warm caches here, 2m38s with two and 2m10s with three.
TESTFLAGS ?= -count=1 -timeout 14m -p 3

.PHONY: dev test vet build bench bench-reembed fuzz soak clean lambdas

# The Lambda binaries, as `sam build` makes them. BuildMethod: makefile runs
# `make --makefile <this file> build-<LogicalId>` in a scratch copy of the project (or the project
# itself with build_in_source), with sam build's environment plus ARTIFACTS_DIR and nothing else
# (aws-lambda-builders, workflows/custom_make/actions.py). ROOT makes the targets build this checkout
# wherever they run. The architecture is the one SAM resolved for the function, read from its build
# graph by infra/lambda-goarch.sh (LAMBDA_ARCH overrides); x86_64 is amd64 to Go.
ROOT          := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
LAMBDA_BUILD   = goarch=$$(LAMBDA_ARCH='$(LAMBDA_ARCH)' $(ROOT)infra/lambda-goarch.sh $(@:build-%=%)) && \
	cd $(ROOT) && GOOS=linux GOARCH=$$goarch CGO_ENABLED=0 \
	$(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap

build-GatewayFunction:
	$(LAMBDA_BUILD) ./functions/gateway

build-AdminFunction:
	$(LAMBDA_BUILD) ./functions/admin

build-MigrateFunction:
	$(LAMBDA_BUILD) ./functions/migrate

build-WorkerFunction:
	$(LAMBDA_BUILD) ./worker

# lambdas builds all four into $(LAMBDA_OUT)/<name>/bootstrap, for this machine's architecture unless
# LAMBDA_ARCH says otherwise. Plain sh, no GNU-only tools.
LAMBDA_OUT ?= $(ROOT)bin/lambda
lambdas:
	@arch='$(LAMBDA_ARCH)'; arch=$${arch:-$$($(GO) env GOARCH)}; \
	for f in gateway:GatewayFunction admin:AdminFunction migrate:MigrateFunction worker:WorkerFunction; do \
		$(MAKE) --no-print-directory -f $(ROOT)Makefile build-$${f#*:} LAMBDA_ARCH=$$arch ARTIFACTS_DIR=$(LAMBDA_OUT)/$${f%%:*} || exit 1; \
	done

dev:
	@$(GO) build -o bin/switchyard-dev ./infra/dev
	@$(WITH_DB) bin/switchyard-dev

# The console's browser tests need Chromium: installed from Debian on first use (as root).
# shared/reembed is named first so that go test starts it first: it is the longest package (its child
# worker processes and HNSW builds), and started last, as ./... alone orders it, it would run on after
# all the others have finished.
test: vet
	@infra/chromium.sh ensure
	$(WITH_DB) $(GO) test $(TESTFLAGS) ./shared/reembed/ ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

build:
	$(GO) build ./...

# The fuzz targets, each for FUZZTIME: the wire codec's (seeds in shared/wire/testdata/fuzz) and the
# gateway's stream relay (seeds in shared/gateway/testdata/fuzz).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./shared/wire -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/wire -run '^$$' -fuzz '^FuzzEmbeddingLengths$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/wire -run '^$$' -fuzz '^FuzzDecodeEmbeddings$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/gateway -run '^$$' -fuzz '^FuzzSSERelay$$' -fuzztime $(FUZZTIME)

# Direct vs the ReverseProxy floor vs the gateway, then the functions' cold start against a hello-world
# Lambda (first answer under the Runtime Interface Emulator, package init), then the re-embed figures (raw
# COPY vs a run's fill, HNSW build vs a bare CREATE INDEX, the worker's peak memory), then search recall@10
# and latency, in one run (docs/benchmarks.md). BENCHFLAGS: -n, -only (-only coldstart / -only reembed /
# -only search: that part alone), -rounds, -coldstart-n, -coldstart-compare DIR, -reembed-docs,
# -reembed-mem-docs, -search-docs.
bench:
	$(WITH_DB) $(GO) run ./infra/bench $(BENCHFLAGS)

# The re-embed part of make bench alone.
bench-reembed:
	$(WITH_DB) $(GO) run ./infra/bench -only reembed $(BENCHFLAGS)

# The gateway under load with 1% upstream failures for SOAK (default 10m); not part of make test.
SOAK ?= 10m
soak:
	$(WITH_DB) $(GO) run ./infra/bench -soak $(SOAK)

clean:
	rm -rf bin .aws-sam
