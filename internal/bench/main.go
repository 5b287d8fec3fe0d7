// Command bench is `make bench`: it measures kjournal against baselines run in the same process tree on
// the same machine, and reports ratios (absolute times on a shared machine are noise).
//
// Scenarios (see README-performance.md for what each measures and why):
//
//	P1  append latency: Python sync client via the sidecar, Go socket client via the sidecar, and a sarama
//	    SyncProducer straight to Kafka (acks=all, idempotent, the Java murmur2 partitioner)
//	P2  append throughput: 64 writers over 1,000 journals via one sidecar vs Kafka's ProducerPerformance
//	P3  recovery: 1,000 concurrent full reads with the head cache on vs off (replicator paused)
//	P4  the replicator's capacity (catching up a backlog) vs the same rows written straight to Cassandra;
//	    replication lag at a steady append rate, and at half that capacity
//	P5  Mark records produced per full read
//	P6  sidecar RSS with 1,000 idle connections, and while a reader of a 200,000-event journal stalls
//	P7  recover() of a 100,000-event journal with and without a snapshot (load_snapshot, then the events after it)
//	P8  subscription delivery latency: append ack → the event delivered to a subscriber, with 100
//	    subscriptions open on one sidecar
//
// Every scenario runs a warm-up, then -reps repetitions; the median is reported with min–max. The result
// is a Markdown table on stdout, the JSON summary (BENCH_OUT, default .run/bench.json), a details file
// next to it, and an SVG plot of the P1 latency distributions.
//
// It needs Kafka and Cassandra (deploy/local/with-stack.sh sets KAFKA_BROKERS and CASSANDRA_HOSTS). The
// sidecars and replicators it measures are processes of its own, started from the kjournal binary
// (-kjournal) on temp sockets, free ports and the bench's own topics (named bench_*, which the stack's
// replicator, replicating "journal*", leaves alone): so P3 can pause "the" replicator and P3, P6 can
// run sidecars with other flags without touching the stack's services, and every number comes from
// the code of this checkout.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		size      = fs.String("size", "full", "full (the issue's sizes) or tiny (seconds, for tests)")
		reps      = fs.Int("reps", 0, "repetitions per scenario (default 3; 1 for -size tiny)")
		only      = fs.String("scenarios", "p1,p2,p3,p4,p5,p6,p7,p8", "comma-separated scenarios to run")
		out       = fs.String("out", envOr("BENCH_OUT", ""), "summary JSON (env BENCH_OUT; default $KJ_RUN/bench.json)")
		kjBin     = fs.String("kjournal", envOr("BENCH_KJOURNAL", ""), "the kjournal binary (default $KJ_RUN/bin/kjournal, built if missing)")
		python    = fs.String("python", envOr("BENCH_PYTHON", ""), "python with the kjournal package installed (default $KJ_RUN/bench-venv/bin/python)")
		p4Rate    = fs.Int("p4-rate", 0, "P4: appends/s (default 5000)")
		p4Dur     = fs.Duration("p4-duration", 0, "P4: duration of a repetition (default 30s)")
		replArgs  = fs.String("replicator-args", "", "more flags for the replicators the bench starts (space-separated), e.g. '--key-parallelism 64'")
		sideArgs  = fs.String("sidecar-args", "", "more flags for the sidecars the bench starts (space-separated)")
		nodeDrv   = fs.String("node-driver", envOr("BENCH_NODE_DRIVER", ""), "P2's Node driver (default clients/node/bench/append_pipelined.mjs, which imports the client built in clients/node/dist)")
		stackSide = fs.Bool("stack-sidecar", false, "P1, P2, P5 through the stack's sidecar ($KJOURNAL_SOCKET) instead of one started from -kjournal")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := log.New(os.Stderr, "[bench] ", log.Ltime)
	e, err := newEnv(ctx, logger, envConfig{
		size: *size, reps: *reps, kjournal: *kjBin, python: *python, nodeDriver: *nodeDrv, stackSidecar: *stackSide,
	})
	if err != nil {
		logger.Printf("error: %v", err)
		return 1
	}
	defer e.close()
	e.replicatorArgs, e.sidecarArgs = strings.Fields(*replArgs), strings.Fields(*sideArgs)
	if *p4Rate > 0 {
		e.sz.p4Rate = *p4Rate
	}
	if *p4Dur > 0 {
		e.sz.p4Duration = *p4Dur
	}
	if *out == "" {
		*out = filepath.Join(e.runDir, "bench.json")
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(strings.ToLower(s))] = true
	}
	rep, err := e.runAll(ctx, want)
	if err != nil {
		logger.Printf("error: %v", err)
	}
	if rep == nil {
		return 1
	}
	if werr := rep.write(*out, os.Stdout); werr != nil {
		logger.Printf("error: %v", werr)
		return 1
	}
	if err != nil || len(rep.Failures) > 0 {
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
