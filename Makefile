# The front door. `make run` serves the API, `make test` runs the whole suite; both install the
# dependencies and start the services first, so each is enough on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export KAFKAJS_NO_PARTITIONER_WARNING := 1
# The processes run JavaScript compiled once by `make build` (tsconfig.build.json: src/ → dist/), not
# TypeScript compiled as they start with tsx, which costs start-up time and 100 MB or more of memory
# per process. Source maps point stack traces at the .ts files.
CLI := node --enable-source-maps dist/cli/main.js
# Written after a complete compile; the rule's prerequisites say when it is out of date.
BUILT := dist/.built
# Written after a complete install; a newer package.json or lock file triggers a new one.
INSTALLED := node_modules/.installed
# promtool checks the Prometheus alert rules: taken once from Debian's prometheus package, unpacked
# into .data/bin (nothing is installed system-wide, no Prometheus server runs).
PROMTOOL := .data/bin/promtool
# The fault tests put toxiproxy between the code and the services; built once from its pinned source.
TOXIPROXY := .data/bin/toxiproxy-server
TOXIPROXY_VERSION := v2.12.0
# The console's browser tests drive Chromium from Debian's packages (playwright-core brings no browser).
export CHROMIUM_PATH ?= /usr/bin/chromium

.PHONY: help install build browser check-alerts services services-down services-status run relay worker push-sink payment-sink token test test-unit typecheck migrate \
	bench bench-readme bench-replay bench-commands bench-cluster bench-http profile-http bench-actors bench-outbox bench-worker bench-projection bench-sagas project toxiproxy soak

# Where `make worker` sends pushes when PUSH_GATEWAY_URL is not set: `make push-sink` listens there.
PUSH_SINK_PORT ?= 4000
# Where `make payment-sink` listens: PAYMENT_PROVIDER_URL=http://127.0.0.1:$(PAYMENT_SINK_PORT) points at it.
PAYMENT_SINK_PORT ?= 4100

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-18s %s\n", $$1, $$2 }'

install: $(INSTALLED) ## install the pinned dependencies (package-lock.json)

# `npm ci` installs exactly what package-lock.json pins, from scratch.
$(INSTALLED): package.json package-lock.json
	@command -v node >/dev/null || { echo "error: node is not installed: install Node.js 20 or newer (with npm)" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm is not installed: install it with Node.js 20 or newer" >&2; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	  || { echo "error: Node.js $$(node --version) is too old: this project needs 20 or newer" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

toxiproxy: $(TOXIPROXY) ## build toxiproxy (for the fault tests) into .data/bin

$(TOXIPROXY):
	@command -v go >/dev/null || { echo "error: go is not installed: the fault tests build toxiproxy with it (Go 1.23 or newer)" >&2; exit 1; }
	@echo "building toxiproxy $(TOXIPROXY_VERSION) (once; about a minute)"
	@mkdir -p $(@D) && GOBIN="$(CURDIR)/$(@D)" go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)
	@mv $(@D)/server $@

browser: ## install Chromium from Debian's packages, for the console's browser tests (once)
	@[ -x "$(CHROMIUM_PATH)" ] || { \
	  command -v apt-get >/dev/null || { echo "error: the browser tests need Chromium at CHROMIUM_PATH ($(CHROMIUM_PATH))" >&2; exit 1; }; \
	  echo "installing Chromium from Debian's packages (once; a minute or two)"; \
	  apt-get install -y chromium >/dev/null 2>&1 \
	    || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }; }

$(PROMTOOL):
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
	  || { echo "error: promtool comes from Debian's prometheus package here; install promtool and copy it to $@" >&2; exit 1; }
	@echo "fetching promtool from Debian's prometheus package (once)"
	@rm -rf .data/tmp/promtool && mkdir -p .data/tmp/promtool $(@D)
	@cd .data/tmp/promtool && { apt-get download prometheus >/dev/null 2>&1 \
	  || { apt-get update >/dev/null && apt-get download prometheus >/dev/null; }; } && dpkg-deb -x prometheus_*.deb root
	@mv .data/tmp/promtool/root/usr/bin/promtool $@ && rm -rf .data/tmp/promtool

check-alerts: $(PROMTOOL) ## check the Prometheus configuration and alert rules (ops/prometheus) and run the rules' unit tests
	@$(PROMTOOL) check config ops/prometheus/prometheus.yml
	@cd ops/prometheus && ../../$(PROMTOOL) test rules alerts.test.yml

services: $(INSTALLED) ## start PostgreSQL, RabbitMQ and Kafka (no-op when they answer)
	@bash scripts/services.sh up

services-down: ## stop the services (their data is kept in .data/)
	@bash scripts/services.sh down

services-status: ## one line per service
	@bash scripts/services.sh status

typecheck: $(INSTALLED) ## type-check the sources, tests and benchmarks
	@node_modules/.bin/tsc --noEmit -p .

build: $(BUILT) ## compile src/ into dist/ (only when a source, a tsconfig or the dependencies changed)

# dist/ is removed first so that a deleted or renamed source leaves no stale .js behind to be imported.
$(BUILT): $(shell find src -name '*.ts') tsconfig.json tsconfig.build.json $(INSTALLED)
	@rm -rf dist
	node_modules/.bin/tsc -p tsconfig.build.json
	@chmod +x dist/cli/main.js
	@touch $@

migrate: services build ## apply the migrations to DATABASE_URL
	@$(CLI) migrate

# Without PAYMENT_PROVIDER_URL, `make run` starts the local payment provider beside `serve` (and stops it after).
run: services build ## serve the HTTP API on PORT (default 3000) with the relay, the projector and the fulfilment saga; migrations are applied at start-up
	@if [ -n "$${PAYMENT_PROVIDER_URL:-}" ]; then exec $(CLI) serve; fi; \
	$(CLI) payment-sink --port $(PAYMENT_SINK_PORT) & sink=$$!; \
	trap 'kill $$sink 2>/dev/null' EXIT INT TERM; \
	PAYMENT_PROVIDER_URL=http://127.0.0.1:$(PAYMENT_SINK_PORT) $(CLI) serve

relay: services build ## run the outbox relay alone (one process at a time is active)
	@$(CLI) relay

worker: services build ## a notification worker (PUSH_GATEWAY_URL, else the local `make push-sink`); run as many as you like
	@PUSH_GATEWAY_URL="$${PUSH_GATEWAY_URL:-http://127.0.0.1:$(PUSH_SINK_PORT)/push}" $(CLI) worker

project: services build ## run the projector alone (every registered projection: order_summaries); run as many as you like
	@$(CLI) project

# Only the token goes to stdout (the build's output goes to stderr): TOKEN=$$(make token ROLE=admin) works.
token: ## print a development token: make token ROLE=<customer|staff|admin|service> SUBJECT=<id> (for a customer, a UUID)
	@$(MAKE) --no-print-directory --silent build >&2
	@$(CLI) token --role "$${ROLE:?set ROLE=customer, staff, admin or service}" $${SUBJECT:+--subject "$$SUBJECT"} $${TTL_SECONDS:+--ttl-seconds "$$TTL_SECONDS"}

push-sink: build ## a local stand-in for a push provider that prints each push (port PUSH_SINK_PORT)
	@$(CLI) push-sink --port $(PUSH_SINK_PORT)

payment-sink: build ## a local stand-in for a payment provider that prints each operation (port PAYMENT_SINK_PORT)
	@$(CLI) payment-sink --port $(PAYMENT_SINK_PORT)

# The tests run the sources with tsx; `build` is here so that CI also compiles what `make run` runs.
test: services typecheck build browser $(TOXIPROXY) check-alerts ## the whole suite: unit, integration and end-to-end, against the real services
	@node_modules/.bin/vitest run

soak: services $(TOXIPROXY) ## the history check under faults for HISTORY_SECONDS (600) instead of one minute
	@HISTORY_SECONDS="$${HISTORY_SECONDS:-600}" node_modules/.bin/vitest run --project faults test/faults/history.test.ts

test-unit: $(INSTALLED) ## the unit tests only (no services needed)
	@node_modules/.bin/vitest run --project unit

bench: bench-replay bench-commands bench-http bench-cluster bench-actors bench-outbox bench-worker bench-projection bench-sagas ## every benchmark; results in bench/results/

bench-readme: $(INSTALLED) ## regenerate README's performance tables from bench/results/
	@node --import tsx bench/readme.ts

bench-outbox: services ## outbox: commit → broker confirm at 1,000 events/s, and draining 100,000 events
	@node --import tsx bench/outbox.ts

bench-worker: services ## one worker process: tasks/s, and command → push latency
	@node --import tsx bench/worker.ts

bench-projection: services ## projection lag at 1,000 events/s, and rebuilding from 1,000,000 events
	@node --import tsx bench/projection.ts

bench-sagas: services build ## the fulfilment saga in a serve at 5 … 40 orders/s: fulfilled/s, confirm → paid p50/p99, against the same commands with no saga
	@node --import tsx bench/sagas.ts

bench-replay: services ## loading an aggregate of 100 … 100,000 events: full replay, snapshots, bare SELECT
	@node --import tsx bench/replay.ts

bench-commands: services ## commands through the runtime and HTTP against bare INSERTs: 1,000 orders and one hot order
	@node --import tsx bench/commands.ts

bench-cluster: services build ## 1, 2 and 3 serve nodes against the runtime without a cluster: commands/s, p99, share routed, conflicts; failover over 10 kills and 5 stops
	@node --import tsx bench/cluster.ts

bench-http: services build ## a real serve process under autocannon, beside a bare node:http + INSERT server: req/s, p50/p99/p99.9
	@node --import tsx bench/http.ts

# WORKLOAD: place, spread, hot, get, health or mix.
profile-http: services build ## a CPU profile of serve under one HTTP workload (WORKLOAD=place): where the time goes
	@node --import tsx bench/http.ts --profile --workloads $${WORKLOAD:-place}

bench-actors: services build ## memory of serve with 10,000 and 100,000 cached orders, against the states alone
	@node --expose-gc --import tsx bench/actors.ts
