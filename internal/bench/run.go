package main

import (
	"context"
	"time"
)

// scenario is one entry of the bench, run in this order: the ones that leave work for the replicator
// (P3's paused head, P6's big journal) come after the latency and throughput measurements, and P4,
// which measures the replicator, comes last, once it has caught up.
type scenario struct {
	name string
	run  func(*env, context.Context, *report) error
}

var scenarios = []scenario{
	{"p1", (*env).runP1},
	{"p2", (*env).runP2},
	{"p5", (*env).runP5},
	{"p8", (*env).runP8},
	{"p3", (*env).runP3},
	{"p6", (*env).runP6},
	{"p7", (*env).runP7},
	{"p4", (*env).runP4},
}

// runAll runs the wanted scenarios; a failing scenario is recorded in the report and the others still
// run. The error is ctx's, when the run was interrupted.
func (e *env) runAll(ctx context.Context, want map[string]bool) (*report, error) {
	r := newReport(e)
	if e.socket != "" {
		r.note("P1, P2, P5 went through the stack's sidecar (%s); the other sidecars and the replicators were started by the bench from %s.", e.socket, e.kjournal)
	} else {
		r.note("Every sidecar and replicator measured was started by the bench from %s, with the default flags unless a row says otherwise.", e.kjournal)
	}
	for _, s := range scenarios {
		if !want[s.name] {
			continue
		}
		start := time.Now()
		r.ScenarioLoad[s.name] = loadAvg()
		e.log.Printf("== %s (load %s)", s.name, r.ScenarioLoad[s.name])
		if err := s.run(e, ctx, r); err != nil {
			e.log.Printf("%s failed: %v", s.name, err)
			r.fail("%s: %v", s.name, err)
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
		}
		e.log.Printf("== %s done in %s", s.name, time.Since(start).Round(time.Second))
	}
	return r, nil
}
