# bench.mk — `make bench`, included by the Makefile.
#
#   make bench           bring the stack up if needed (kafka cassandra replicator sidecar), run every
#                        scenario of internal/bench (P1–P6) with a warm-up and BENCH_REPS repetitions,
#                        print the Markdown table, write $(BENCH_OUT) (default .run/bench.json), its
#                        details (.run/bench-details.json) and the plot .run/bench-latency.svg
#   BENCH_ARGS=...       more flags for the driver, e.g. BENCH_ARGS='-scenarios p1,p3'
#
# The stack is started with deploy/local/with-stack.sh, so services this target started are stopped
# afterwards and services already running (make up) are reused. P3 pauses the replicator with
# deploy/local/stack.sh stop/start replicator; P3 and P6 start sidecars of their own on temp sockets.
# Measure on a quiet machine: the table records the load average before and after the run.

BENCH_OUT      ?= $(RUN)/bench.json
BENCH_REPS     ?= 3
BENCH_ARGS     ?=
BENCH_SERVICES ?= kafka cassandra replicator sidecar
BENCH_VENV     := $(RUN)/bench-venv
BENCH_PYTHON   ?= python3

.PHONY: bench bench-build bench-venv

bench: deps bench-build bench-venv
	@KJ_SERVICES="$(BENCH_SERVICES)" $(WITH_STACK) env BENCH_OUT=$(BENCH_OUT) \
	  BENCH_PYTHON=$(BENCH_VENV)/bin/python BENCH_KJOURNAL=$(RUN)/bin/kjournal \
	  $(RUN)/bin/bench -reps $(BENCH_REPS) $(BENCH_ARGS)

bench-build:
	$(GO) build -o $(RUN)/bin/kjournal ./cmd/kjournal
	$(GO) build -o $(RUN)/bin/bench ./internal/bench

# The Python client installed editable into a venv of its own (the P1 script imports it).
bench-venv: $(BENCH_VENV)/.stamp

$(BENCH_VENV)/.stamp: clients/python/pyproject.toml
	@echo "== bench: creating $(BENCH_VENV)"
	@rm -rf $(BENCH_VENV)
	@$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install --disable-pip-version-check -q -e ./clients/python
	@touch $@
