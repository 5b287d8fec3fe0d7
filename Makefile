# kjournal — the one entry point. `make demo` and `make test` are all a newcomer needs.
#
#   make up      start real Kafka + Cassandra (deploy/local) in the background; writes .run/stack.env
#   make down    stop everything `make up` started
#   make test    install what is missing, bring up what the tests need, run every suite, tear down
#   make test-cluster  the cluster fault tests on 3 Kafka brokers + 3 Cassandra nodes of their own
#   make demo    an end-to-end demo on the real stack
#   make fuzz    run every fuzz target for FUZZTIME each
#   make lint    gofmt + go vet
#   make bench   the performance scenarios P1-P6 (bench.mk)
#   make image   the container image, without Docker: a docker-save tarball under .run/image/
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

RUN       ?= $(CURDIR)/.run
STACK     := deploy/local/stack.sh
WITH_STACK := deploy/local/with-stack.sh
GO        ?= go
GOTEST_TIMEOUT ?= 20m
FUZZTIME  ?= 30s
export KJ_RUN := $(RUN)

# The release: linked into the binary (`kjournal version`), the image's tag and labels. deploy/sidecar.yaml
# names $(IMAGE_REPO):$(VERSION) (deploy/manifest_test.go checks it). The wire strings journal.Version and
# sidecar.ServerName stay kjournal-0.1.0 / kjournal/0.1.0 until the protocol or record format changes.
VERSION    ?= 0.1.0
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_REPO ?= ghcr.io/kjournal/kjournal
IMAGE_TAR  ?= $(RUN)/image/kjournal-$(VERSION).tar
IMAGE_SOURCE   ?= https://github.com/kjournal/kjournal
IMAGE_LICENSES ?= NOASSERTION
# Every timestamp in the image: the commit's time, so one commit gives one image digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
LDFLAGS   := -X github.com/kjournal/kjournal/internal/buildinfo.version=$(VERSION) -X github.com/kjournal/kjournal/internal/buildinfo.revision=$(REVISION)
# What `make up` and `make test` run: the servers, then kjournal's own services on top.
export KJ_SERVICES ?= kafka cassandra replicator sidecar

.PHONY: help deps build image up down test test-cluster test-all test-go test-python test-node node-build demo fuzz lint clean

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

# Installs: Maven jars (cached under .run/cache), Go modules. Idempotent and cheap when done.
deps:
	@$(STACK) fetch
	@$(GO) mod download

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(RUN)/bin/kjournal ./cmd/kjournal

# A static kjournal on an empty base, non-root, no shell (internal/image). Load or push the tarball with
# docker load / podman load / crane push / skopeo copy docker-archive: (README, "Container image").
image:
	$(GO) run ./cmd/kjournal-image -repository $(IMAGE_REPO) -version $(VERSION) -revision $(REVISION) \
	  -source $(IMAGE_SOURCE) -licenses $(IMAGE_LICENSES) -created $(SOURCE_DATE_EPOCH) -out $(IMAGE_TAR)

up: deps
	@$(STACK) start $(KJ_SERVICES)
	@$(STACK) env > $(RUN)/stack.env
	@echo "stack up; environment in $(RUN)/stack.env"

down:
	@$(STACK) stop replicator sidecar kafka cassandra
	@rm -f $(RUN)/stack.env

test: deps
	@$(WITH_STACK) $(MAKE) --no-print-directory -k test-all

# internal/faults' TestCluster (KJ_CLUSTER=1): kills and restarts brokers and Cassandra nodes of a 3+3 cluster
# of its own (KJ_NODES=3 under $(RUN)/cluster, ports 39092/39093/39042/37000/39095/39096 on 127.0.0.1-3). The
# trap stops that cluster even when the test binary dies (a panic or -timeout skips its own cleanup).
test-cluster: deps
	@trap 'KJ_RUN=$(RUN)/cluster $(STACK) stop >/dev/null 2>&1 || true' EXIT; start=$$SECONDS; \
	  status=0; KJ_CLUSTER=1 $(GO) test -count=1 -timeout 30m -run '^TestCluster$$' -v ./internal/faults || status=$$?; \
	  echo "test-cluster: $$((SECONDS - start))s"; exit $$status

# Every suite runs even when an earlier one failed (-k); make exits non-zero if any did. Python first:
# its virtualenv is also what the bench's tiny-size test (internal/bench) drives P1 with.
test-all: test-python test-node test-go

# The suites themselves expect the stack's addresses in the environment (KAFKA_BROKERS,
# CASSANDRA_HOSTS, KJOURNAL_SOCKET); `make test` sets them. Run alone, they skip what needs a server.
# KJ_FAULTS=1 enables internal/faults, which kills and restarts a private stack of its own; KJ_AUTH=1
# its least-privilege test, on a password-protected Cassandra of its own (ports 29142, 27142).
test-go:
	$(GO) vet ./...
	KJ_FAULTS=1 KJ_AUTH=1 $(GO) test -count=1 -timeout $(GOTEST_TIMEOUT) ./...

# A fresh virtualenv under .run/ (no global pip installs), mypy --strict, pytest.
test-python:
	clients/python/run-tests.sh

# npm ci from the committed lockfile, tsc build with declarations, tsc --noEmit strict, node --test.
test-node:
	clients/node/run-tests.sh

node-build:
	cd clients/node && npm ci --no-audit --no-fund --prefer-offline --loglevel=error && npm run --silent build

# Python app -> sidecar -> Kafka -> replicator -> Cassandra, and back; see deploy/local/demo.sh.
demo: deps
	@KJ_SERVICES="kafka cassandra replicator sidecar" $(WITH_STACK) deploy/local/demo.sh

# Every decoder of untrusted bytes has a fuzz target; seeds come from the golden and protocol vectors.
FUZZ_TARGETS := ./journal/:FuzzDecodeActionHeader ./journal/:FuzzDecodeEvents ./journal/:FuzzParseExpireAfter \
	./journal/cassandra/:FuzzMetaJournalSegment ./protocol/:FuzzReadFrame ./protocol/:FuzzDecodeRequest \
	./sidecar/:FuzzSidecar_Connection

# -fuzzminimizetime keeps Go's shrinking of new inputs from stalling a bounded run.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== fuzz $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

include bench.mk

clean: down
	rm -rf $(RUN)
