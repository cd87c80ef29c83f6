# The front door. `make run` serves the API, `make test` runs the whole suite; both install the
# dependencies and start the services first, so each is enough on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export KAFKAJS_NO_PARTITIONER_WARNING := 1
TSX := node_modules/.bin/tsx
# Written after a complete install; a newer package.json or lock file triggers a new one.
INSTALLED := node_modules/.installed
# The fault tests put toxiproxy between the code and the services; built once from its pinned source.
TOXIPROXY := .data/bin/toxiproxy-server
TOXIPROXY_VERSION := v2.12.0

.PHONY: help install services services-down services-status run relay worker push-sink test test-unit typecheck migrate \
	bench bench-replay bench-commands bench-outbox bench-worker bench-projection project toxiproxy soak

# Where `make worker` sends pushes when PUSH_GATEWAY_URL is not set: `make push-sink` listens there.
PUSH_SINK_PORT ?= 4000

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

services: $(INSTALLED) ## start PostgreSQL, RabbitMQ and Kafka (no-op when they answer)
	@bash scripts/services.sh up

services-down: ## stop the services (their data is kept in .data/)
	@bash scripts/services.sh down

services-status: ## one line per service
	@bash scripts/services.sh status

typecheck: $(INSTALLED) ## type-check the sources, tests and benchmarks
	@node_modules/.bin/tsc --noEmit -p .

migrate: services ## apply the migrations to DATABASE_URL
	@$(TSX) src/cli/main.ts migrate

run: services ## serve the HTTP API on PORT (default 3000); migrations are applied at start-up
	@$(TSX) src/cli/main.ts serve

relay: services ## run the outbox relay alone (one process at a time is active)
	@$(TSX) src/cli/main.ts relay

worker: services ## a notification worker (PUSH_GATEWAY_URL, else the local `make push-sink`); run as many as you like
	@PUSH_GATEWAY_URL="$${PUSH_GATEWAY_URL:-http://127.0.0.1:$(PUSH_SINK_PORT)/push}" $(TSX) src/cli/main.ts worker

project: services ## run the projector alone (order.events → order_summaries); run as many as you like
	@$(TSX) src/cli/main.ts project

push-sink: $(INSTALLED) ## a local stand-in for a push provider that prints each push (port PUSH_SINK_PORT)
	@$(TSX) src/cli/main.ts push-sink --port $(PUSH_SINK_PORT)

test: services typecheck $(TOXIPROXY) ## the whole suite: unit, integration and end-to-end, against the real services
	@node_modules/.bin/vitest run

soak: services $(TOXIPROXY) ## the history check under faults for HISTORY_SECONDS (600) instead of one minute
	@HISTORY_SECONDS="$${HISTORY_SECONDS:-600}" node_modules/.bin/vitest run --project faults test/faults/history.test.ts

test-unit: $(INSTALLED) ## the unit tests only (no services needed)
	@node_modules/.bin/vitest run --project unit

bench: bench-replay bench-commands bench-outbox bench-worker bench-projection ## every benchmark; results in bench/results/

bench-outbox: services ## outbox: commit → broker confirm at 1,000 events/s, and draining 100,000 events
	@node --import tsx bench/outbox.ts

bench-worker: services ## one worker process: tasks/s, and command → push latency
	@node --import tsx bench/worker.ts

bench-projection: services ## projection lag at 1,000 events/s, and rebuilding from 1,000,000 events
	@node --import tsx bench/projection.ts

bench-replay: services ## loading an aggregate of 100 … 100,000 events: full replay, snapshots, bare SELECT
	@node --import tsx bench/replay.ts

bench-commands: services ## commands through the runtime and HTTP against bare INSERTs: 1,000 orders and one hot order
	@node --import tsx bench/commands.ts
