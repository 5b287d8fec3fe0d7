package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
)

// TestScenarios runs every scenario at the tiny size against the real stack, so that the bench code
// cannot rot between `make bench` runs: the numbers are not checked, only that each scenario runs,
// reports its rows and that the outputs (table, bench.json with every key, plot) are written.
// P1, P2 and P5 go through the stack's sidecar; P3, P4 and P6 start sidecars and replicators of
// their own, as `make bench` does.
func TestScenarios(t *testing.T) {
	testenv.KafkaBrokers(t)
	testenv.CassandraHosts(t)
	testenv.SidecarSocket(t)
	if testing.Short() {
		t.Skip("-short: the bench scenarios take about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kjournal")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kjournal")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kjournal: %v\n%s", err, out)
	}
	python := findBenchPython(root)

	logger := log.New(testWriter{t}, "[bench] ", log.Ltime)
	e, err := newEnv(ctx, logger, envConfig{size: "tiny", kjournal: bin, python: python, stackSidecar: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)

	r := newReport(e)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			if s.name == "p1" && python == "" {
				t.Skip("no python with the kjournal package: set BENCH_PYTHON, or run `make bench-venv` or clients/python/run-tests.sh")
			}
			before := len(r.Rows)
			if err := s.run(e, ctx, r); err != nil {
				t.Fatal(err)
			}
			if len(r.Rows) == before {
				t.Errorf("%s reported no rows", s.name)
			}
		})
	}

	out := filepath.Join(t.TempDir(), "bench.json")
	var table bytes.Buffer
	if err := r.write(out, &table); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", table.String())
	if !strings.Contains(table.String(), "| scenario | metric |") {
		t.Errorf("no table in the output")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum) != len(summaryKeys) {
		t.Errorf("bench.json has %d keys, want %d: %v", len(sum), len(summaryKeys), sum)
	}
	for _, k := range summaryKeys {
		v, ok := sum[k]
		if !ok {
			t.Errorf("bench.json lacks %s", k)
			continue
		}
		ran := (python != "" || (k != "append_p50_ratio" && k != "append_p99_ratio" && k != "throughput_ratio_pipelined_python")) &&
			(e.node != "" || k != "throughput_ratio_pipelined_node")
		if ran && v == nil {
			t.Errorf("bench.json: %s is null", k)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(out), "bench-latency.svg")); err != nil {
		t.Errorf("plot: %v", err)
	}
}

// findBenchPython returns $BENCH_PYTHON, or the python of the bench venv or of the Python client's
// test venv when one exists, or "".
func findBenchPython(root string) string {
	if p := os.Getenv("BENCH_PYTHON"); p != "" {
		return p
	}
	run := envOr("KJ_RUN", filepath.Join(root, ".run"))
	for _, venv := range []string{"bench-venv", "venv-python"} {
		p := filepath.Join(run, venv, "bin", "python")
		if err := exec.Command(p, "-c", "import kjournal").Run(); err == nil {
			return p
		}
	}
	return ""
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}, {0, 1}} {
		if got := percentile(xs, c.q); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	s := summarize([]float64{3, 1, 2})
	if s.Median != 2 || s.Min != 1 || s.Max != 3 {
		t.Errorf("summarize = %+v", s)
	}
	if s := summarize([]float64{1, 2, 3, 4}); s.Median != 2.5 {
		t.Errorf("median of 4 = %v", s.Median)
	}
}

func TestPlotLatencies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.svg")
	lat := map[string][]float64{"direct": {0.1, 0.2, 0.3, 5}, "go": {0.3, 0.4, 0.5}, "python": {0.5, 0.6, 9}}
	if err := plotLatencies(path, lat); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("Python sync client")) {
		t.Errorf("not the plot: %.200s", b)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
