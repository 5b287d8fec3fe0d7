package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// row is one line of the table: a quantity measured in every repetition of a scenario.
type row struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Value    summary `json:"value"`
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	// Digits after the decimal point in the table.
	digits int
}

// report is everything a run measured.
type report struct {
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Host       string    `json:"host"`
	CPUs       int       `json:"cpus"`
	Commit     string    `json:"commit"`
	Size       string    `json:"size"`
	Reps       int       `json:"reps"`
	LoadBefore string    `json:"load_before"`
	LoadAfter  string    `json:"load_after"`
	// ScenarioLoad is the load average when each scenario started.
	ScenarioLoad map[string]string    `json:"scenario_load"`
	Rows         []row                `json:"rows"`
	Notes        []string             `json:"notes,omitempty"`
	Failures     []string             `json:"failures,omitempty"`
	Summary      map[string]any       `json:"summary"`
	Latencies    map[string][]float64 `json:"-"` // P1 latencies in ms by client, all repetitions, for the plot
}

func newReport(e *env) *report {
	host, _ := os.Hostname()
	r := &report{Started: time.Now(), Host: host, CPUs: runtime.NumCPU(), Size: e.sz.name, Reps: e.sz.reps,
		LoadBefore: loadAvg(), Summary: map[string]any{}, Latencies: map[string][]float64{}, ScenarioLoad: map[string]string{}}
	if out, err := exec.Command("git", "-C", e.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", e.root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			r.Commit += "+dirty"
		}
	}
	return r
}

func (r *report) add(scenario, metric, unit string, reps []float64, digits int) *row {
	r.Rows = append(r.Rows, row{Scenario: scenario, Metric: metric, Unit: unit, Value: summarize(reps), digits: digits})
	return &r.Rows[len(r.Rows)-1]
}

// target sets the row's target and whether its median meets it: op is "<=", ">=" or "==".
func (rw *row) target(op string, v float64) {
	rw.Target = op + " " + trimFloat(v)
	var met bool
	switch op {
	case "<=":
		met = rw.Value.Median <= v
	case ">=":
		met = rw.Value.Median >= v
	case "==":
		met = rw.Value.Median == v
	}
	if math.IsNaN(rw.Value.Median) {
		met = false
	}
	rw.Met = &met
}

func (r *report) note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }
func (r *report) fail(format string, a ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, a...))
}

// summaryKeys are the keys of bench.json, exactly; a key whose scenario did not run is null.
var summaryKeys = []string{
	"append_p50_ratio", "append_p99_ratio", "throughput_ratio", "recovery_speedup",
	"recovery_consumers_opened", "replication_lag_p50_ms", "replication_lag_p99_ms", "marks_per_read",
	"sidecar_rss_idle_1000_conns_mib", "sidecar_rss_stalled_reader_mib",
	"replicator_capacity_ratio", "replicator_records_per_s", "replication_lag_p99_ms_half_capacity",
	"recovery_vs_cassandra_ratio", "recovery_speedup_vs_consumer_per_read",
	"sidecar_cpu_us_per_append", "throughput_ratio_pipelined_python", "throughput_ratio_pipelined_node",
	"recover_ms_without_snapshot", "recover_ms_with_snapshot",
}

// write prints the table to w and writes the summary JSON to out, the details next to it
// (<out>-details.json) and the plot (bench-latency.svg and .png in out's directory).
func (r *report) write(out string, w io.Writer) error {
	r.Finished = time.Now()
	r.LoadAfter = loadAvg()
	fmt.Fprint(w, r.markdown())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	sum := map[string]any{}
	for _, k := range summaryKeys {
		sum[k] = nil
		if v, ok := r.Summary[k]; ok {
			sum[k] = v
		}
	}
	if err := writeJSON(out, sum); err != nil {
		return err
	}
	details := strings.TrimSuffix(out, ".json") + "-details.json"
	if err := writeJSON(details, r); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s and %s\n", out, details)
	if len(r.Latencies) > 0 {
		svg := filepath.Join(filepath.Dir(out), "bench-latency.svg")
		if err := plotLatencies(svg, r.Latencies); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		fmt.Fprintf(w, "wrote %s (and .png)\n", svg)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// markdown is the table, with the conditions of the run above it.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## kjournal bench (%s sizes, %d repetitions after a warm-up; median, min–max)\n\n", r.Size, r.Reps)
	fmt.Fprintf(&b, "%s, %d CPUs, commit %s, %s; load average (1/5/15 min) %s before, %s after.\n\n",
		r.Host, r.CPUs, r.Commit, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.LoadBefore, r.LoadAfter)
	if len(r.ScenarioLoad) > 0 {
		b.WriteString("Load average (1 min) when each scenario started:")
		for _, s := range scenarios {
			if l, ok := r.ScenarioLoad[s.name]; ok {
				fmt.Fprintf(&b, " %s %s;", strings.ToUpper(s.name), strings.Fields(l)[0])
			}
		}
		b.WriteString(" a busy machine inflates every number, the ratios less than the rest.\n\n")
	}
	b.WriteString("| scenario | metric | median | min–max | target | met |\n|---|---|---:|---:|---|:-:|\n")
	for _, rw := range r.Rows {
		unit := ""
		if rw.Unit != "" {
			unit = " " + rw.Unit
		}
		met := ""
		if rw.Met != nil {
			met = "no"
			if *rw.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s%s | %s–%s | %s | %s |\n", rw.Scenario, rw.Metric,
			fmtF(rw.Value.Median, rw.digits), unit, fmtF(rw.Value.Min, rw.digits), fmtF(rw.Value.Max, rw.digits), rw.Target, met)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n**failed**: %s\n", f)
	}
	return b.String()
}

func fmtF(v float64, digits int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// round rounds v to digits after the point, for the summary JSON.
func round(v float64, digits int) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
