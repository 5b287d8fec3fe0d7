# bench.mk — `make bench`, included by the Makefile.
#
#   make bench           bring Kafka and Cassandra up if needed (deploy/local/with-stack.sh), run every
#                        scenario of internal/bench (P1–P6) with a warm-up and BENCH_REPS repetitions,
#                        print the Markdown table, write $(BENCH_OUT) (default .run/bench.json), its
#                        details (.run/bench-details.json) and the plot .run/bench-latency.svg
#   BENCH_ARGS=...       more flags for the driver, e.g. BENCH_ARGS='-scenarios p1,p3'
#
# with-stack.sh stops afterwards what it started and reuses what runs already (make up). The sidecars
# and replicators the bench measures are its own processes, started from the kjournal binary built
# here, on temp sockets, free ports and topics named bench_* (which the stack's replicator, replicating
# "journal*", leaves alone): P3 pauses its replicator and P3/P6 run sidecars with other flags without
# touching the stack's services. BENCH_ARGS=-stack-sidecar sends P1, P2 and P5 through the stack's
# sidecar instead (add sidecar to BENCH_SERVICES). Measure on a quiet machine: the table records the
# load average before and after the run.

BENCH_OUT      ?= $(RUN)/bench.json
BENCH_REPS     ?= 3
BENCH_ARGS     ?=
BENCH_SERVICES ?= kafka cassandra
BENCH_VENV     := $(RUN)/bench-venv
BENCH_PYTHON   ?= python3

.PHONY: bench bench-build bench-venv

bench: deps bench-build bench-venv node-build
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
