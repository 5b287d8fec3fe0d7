package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// P1: sequential single-event appends (200-byte binary payload) to one journal, measured by three
// clients in turn in every repetition:
//
//   - direct: sarama SyncProducer straight to Kafka (the baseline);
//   - library: journal.Journal.Append in this process, the sidecar's own producer path without the
//     socket (journal/kafka's batching async producer);
//   - go: the Go socket client through the sidecar (the sidecar's cost);
//   - python: the Python sync client through the sidecar (the sidecar's cost plus Python's).
//
// The ratios are taken per repetition (so the runs share the machine's state) and the median of
// them is reported.
func (e *env) runP1(ctx context.Context, r *report) error {
	const sc = "P1 append latency"
	socket, err := e.sidecarSocket(ctx)
	if err != nil {
		return err
	}
	if _, err := os.Stat(e.python); err != nil {
		return fmt.Errorf("python %s: %w (make bench creates the venv; or set BENCH_PYTHON)", e.python, err)
	}
	topic := e.name("p1")
	payload := randomPayload(e.sz.payloadBytes)
	direct, err := newDirectProducer(e.brokers)
	if err != nil {
		return fmt.Errorf("sarama producer: %w", err)
	}
	defer direct.Close()
	gc, err := dialSidecar(ctx, socket)
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", socket, err)
	}
	defer gc.Close()

	type method struct {
		key string
		run func(journalID string, n int) ([]time.Duration, error)
	}
	methods := []method{
		{"direct", func(id string, n int) ([]time.Duration, error) {
			key := journal.Key{Topic: topic, ID: id}
			out := make([]time.Duration, 0, n)
			for i := 1; i <= n; i++ {
				d, err := direct.append(key, int64(i), payload)
				if err != nil {
					return nil, err
				}
				out = append(out, d)
			}
			return out, nil
		}},
		{"library", func(id string, n int) ([]time.Duration, error) {
			j := e.journals.Journal(journal.Key{Topic: topic, ID: id})
			out := make([]time.Duration, 0, n)
			for i := 1; i <= n; i++ {
				start := time.Now()
				ev := []journal.Event{{SeqNr: journal.SeqNr(i), Payload: journal.BinaryPayload(payload)}}
				if _, err := j.Append(ctx, ev, journal.AppendOptions{}); err != nil {
					return nil, err
				}
				out = append(out, time.Since(start))
			}
			return out, nil
		}},
		{"go", func(id string, n int) ([]time.Duration, error) {
			out := make([]time.Duration, 0, n)
			for i := 1; i <= n; i++ {
				start := time.Now()
				ev := []protocol.Event{{SeqNr: int64(i), Payload: payload, PayloadType: protocol.PayloadBinary}}
				if _, err := gc.appendEvents(ctx, topic, id, ev); err != nil {
					return nil, err
				}
				out = append(out, time.Since(start))
			}
			return out, nil
		}},
		{"python", func(id string, n int) ([]time.Duration, error) {
			return e.pythonAppends(ctx, socket, topic, id, n, e.sz.p1Warmup)
		}},
	}

	e.log.Printf("P1: warm-up, %d appends per client", e.sz.p1Warmup)
	for _, m := range methods[:3] { // the Python script warms itself up in every run
		if _, err := m.run(e.name("p1warm"), e.sz.p1Warmup); err != nil {
			return fmt.Errorf("P1 warm-up %s: %w", m.key, err)
		}
	}
	p50 := map[string][]float64{}
	p99 := map[string][]float64{}
	var ratio50, ratio99, goRatio50, goRatio99 []float64
	for rep := range e.sz.reps {
		for _, m := range methods {
			e.log.Printf("P1: rep %d/%d, %s, %d appends", rep+1, e.sz.reps, m.key, e.sz.p1Appends)
			lat, err := m.run(e.name("p1"), e.sz.p1Appends)
			if err != nil {
				return fmt.Errorf("P1 %s: %w", m.key, err)
			}
			msv := msOf(lat)
			r.Latencies[m.key] = append(r.Latencies[m.key], msv...)
			p50[m.key] = append(p50[m.key], percentile(msv, 0.5))
			p99[m.key] = append(p99[m.key], percentile(msv, 0.99))
		}
		i := len(p50["direct"]) - 1
		ratio50 = append(ratio50, p50["python"][i]/p50["direct"][i])
		ratio99 = append(ratio99, p99["python"][i]/p99["direct"][i])
		goRatio50 = append(goRatio50, p50["go"][i]/p50["direct"][i])
		goRatio99 = append(goRatio99, p99["go"][i]/p99["direct"][i])
	}
	rw := r.add(sc, "p50 ratio: Python via sidecar ÷ sarama direct", "×", ratio50, 2)
	rw.target("<=", 1.15)
	r.Summary["append_p50_ratio"] = round(rw.Value.Median, 3)
	rw = r.add(sc, "p99 ratio: Python via sidecar ÷ sarama direct", "×", ratio99, 2)
	rw.target("<=", 1.3)
	r.Summary["append_p99_ratio"] = round(rw.Value.Median, 3)
	r.add(sc, "p50 ratio: Go socket client via sidecar ÷ sarama direct", "×", goRatio50, 2)
	r.add(sc, "p99 ratio: Go socket client via sidecar ÷ sarama direct", "×", goRatio99, 2)
	for _, m := range []struct{ key, label string }{{"direct", "sarama direct"}, {"library", "journal library in-process (no socket)"}, {"go", "Go socket client via sidecar"}, {"python", "Python sync client via sidecar"}} {
		r.add(sc, "p50 "+m.label, "ms", p50[m.key], 2)
		r.add(sc, "p99 "+m.label, "ms", p99[m.key], 2)
	}
	return nil
}

// pythonAppends runs clients/python/bench/append_latency.py, which appends n single-event batches with
// the sync client (after warmup appends to another journal) and prints each latency in ns as JSON.
func (e *env) pythonAppends(ctx context.Context, socket, topic, journalID string, n, warmup int) ([]time.Duration, error) {
	cmd := exec.CommandContext(ctx, e.python, e.pyScript,
		"--socket", socket, "--topic", topic, "--journal", journalID,
		"--count", strconv.Itoa(n), "--warmup", strconv.Itoa(warmup), "--payload-bytes", strconv.Itoa(e.sz.payloadBytes))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", e.pyScript, err, stderr.String())
	}
	var res struct {
		LatenciesNs []int64 `json:"latencies_ns"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("%s output: %w", e.pyScript, err)
	}
	if len(res.LatenciesNs) != n {
		return nil, fmt.Errorf("%s: %d latencies, want %d", e.pyScript, len(res.LatenciesNs), n)
	}
	out := make([]time.Duration, n)
	for i, ns := range res.LatenciesNs {
		out[i] = time.Duration(ns)
	}
	return out, nil
}
