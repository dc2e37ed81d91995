# Labelgate — every documented entry point is a target here; `make help` lists them.

GO        ?= go
BIN       ?= bin/labelgate
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 60s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the static binary into bin/labelgate
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/labelgate

IMAGE     ?= labelgate:dev

.PHONY: image
image: build ## build the FROM-scratch image $(IMAGE) (no registry needed)
	rm -rf bin/image && mkdir -p bin/image/app/config
	cp $(BIN) bin/image/labelgate
	docker build -q -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) bin/image
	@docker image inspect $(IMAGE) --format 'image $(IMAGE): {{.Size}} bytes'

.PHONY: demo
demo: image ## run main on the local Docker engine against a simulated Cloudflare, with a labelled example container
	./$(BIN) check deploy/compose/example.yaml
	./$(BIN) demo --example $(IMAGE)

# `docker compose` (v2) when the plugin answers, else docker-compose (v1).
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
DEMO_COMPOSE  = $(COMPOSE) -p labelgate-demo -f deploy/compose/demo.yaml

.PHONY: demo-compose
demo-compose: image ## run deploy/compose/demo.yaml: cfsim, main, two agents and labelled workloads, all from $(IMAGE)
	./$(BIN) check deploy/compose/demo.yaml
	LABELGATE_IMAGE=$(IMAGE) $(DEMO_COMPOSE) up -d
	@echo
	@echo "Dashboard:        http://127.0.0.1:8080/  (log in with the API token demo-api-token-not-secret)"
	@echo "Simulated Cloudflare: http://127.0.0.1:8787/__cfsim/state  (and /__cfsim/audit)"
	@echo "Logs:             $(DEMO_COMPOSE) logs -f labelgate"
	@echo "Stop it:          make demo-compose-down"

.PHONY: demo-compose-down
demo-compose-down: ## stop and remove the compose demo (containers, network, volume)
	LABELGATE_IMAGE=$(IMAGE) $(DEMO_COMPOSE) down -v --remove-orphans

# The real-Docker tests run when an engine answers (CI sets this to 1 and
# fails without one).
DOCKER_TESTS ?= $(shell docker info >/dev/null 2>&1 && echo 1 || echo 0)

.PHONY: test
test: lint ## make lint, then the whole test suite with the race detector (real-Docker tests too when an engine answers)
	LABELGATE_DOCKER_TESTS=$(DOCKER_TESTS) $(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test-e2e
test-e2e: ## the end-to-end scenarios on the real Docker engine (image, cfsim, main and agents as containers); prints the figures
	LABELGATE_DOCKER_TESTS=1 $(GO) test -race -count=1 -timeout 20m -v ./e2e/

.PHONY: test-browser
test-browser: ## drive the dashboard in headless chromium (apt-get install chromium); screenshots in web/testdata/artifacts
	LABELGATE_BROWSER_TESTS=1 LABELGATE_DOCKER_TESTS=$(DOCKER_TESTS) $(GO) test -race -count=1 -run '^TestBrowser' -v ./web/

# golangci-lint is pinned in tools/go.mod, a module of its own so that its
# dependencies stay out of go.mod; `go tool` builds it from the Go module
# proxy on first use (a few minutes) and then runs it from the build cache.
# Its linters and their settings are in .golangci.yml.
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/go.mod golangci-lint

.PHONY: lint
lint: ## go vet, a gofmt check, the package edges (actors never depends on web, surface or metrics) and golangci-lint (.golangci.yml)
	$(GO) vet ./...
	@out=$$($(GO) list -deps -test -f '{{.ImportPath}}' ./actors | grep -E '/labelgate/(web|surface|metrics)(/|$$)'); \
	  if [ -n "$$out" ]; then echo "actors must not depend on:"; echo "$$out"; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

# Every package with a `func Fuzz…` in a test file is asked for its targets
# (go test -list); each target then runs on its own, since -fuzz takes one.
# A failing target does not stop the others; the run fails at the end.
.PHONY: fuzz
fuzz: ## run every fuzz target in the repository in turn, each for FUZZTIME (default 60s)
	@failed=; \
	for dir in $$(grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
	  names=$$($(GO) test -list '^Fuzz' $$dir) || { echo "$$names"; failed="$$failed $$dir"; continue; }; \
	  for name in $$(echo "$$names" | grep '^Fuzz'); do \
	    echo "== $$dir $$name ($(FUZZTIME))"; \
	    $(GO) test $$dir -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) || failed="$$failed $$dir:$$name"; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

.PHONY: golden
golden: ## rewrite the label parser's golden files from the current output
	$(GO) test ./labels -run TestGolden -update

.PHONY: bench
bench: build ## run every benchmark at its documented size (about an hour) and rewrite their sections of docs/benchmarks.md
	$(GO) run ./bench/cmd/lgbench -bin $(BIN) -doc docs/benchmarks.md

.PHONY: bench-hostile
bench-hostile: build ## only the hostile-agent floods (issue 11; about 20 minutes) and their section of docs/benchmarks.md
	$(GO) run ./bench/cmd/lgbench -only hostile -bin $(BIN) -doc docs/benchmarks.md -command 'make bench-hostile'

.PHONY: bench-smoke
bench-smoke: build ## the benchmarks at tiny sizes (about a minute, for CI): fails only on functional errors, writes no document
	$(GO) run ./bench/cmd/lgbench -smoke -bin $(BIN) -command 'make bench-smoke'

.PHONY: clean
clean: ## remove build output
	rm -rf bin
