package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kjournal/kjournal/internal/sockclient"
	"github.com/kjournal/kjournal/protocol"
)

// P6: the sidecar's resident memory (VmRSS) in two situations, each in a fresh sidecar with the
// default flags:
//
//   - idle: p6IdleConns connections that said hello and then do nothing;
//   - stalled reader: one client reads a p6Events-event journal (in Cassandra), takes the events of its
//     first credit grant and then grants no more, holding the stream open for p6Hold.
//
// The first pass is a warm-up and is not reported.
func (e *env) runP6(ctx context.Context, r *report) error {
	const sc = "P6 sidecar memory"
	topic := e.name("p6")
	big := e.name("p6big")
	payload := randomPayload(e.sz.payloadBytes)

	e.log.Printf("P6: seeding a %d-event journal (%d events per append)", e.sz.p6Events, e.sz.p6EventsPerAppend)
	last, err := e.appendAll(ctx, topic, []string{big}, 1, e.sz.p6Events, e.sz.p6EventsPerAppend, payload)
	if err != nil {
		return fmt.Errorf("P6 seed: %w", err)
	}
	e.log.Printf("P6: replicating it to Cassandra")
	if err := e.replicate(ctx, topic, last); err != nil {
		return fmt.Errorf("P6 seed: %w", err)
	}

	idle := func() (before, with float64, err error) {
		p, err := e.startSidecar(ctx, "p6-idle", sidecarOptions{headCache: true})
		if err != nil {
			return 0, 0, err
		}
		defer p.stop()
		settle()
		if before, err = rssMiB(p.pid()); err != nil {
			return 0, 0, err
		}
		conns := make([]*sockClient, e.sz.p6IdleConns)
		var wg sync.WaitGroup
		errs := make(chan error, len(conns))
		sem := make(chan struct{}, 32)
		for i := range conns {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := dialSidecar(ctx, p.socket)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}()
		}
		wg.Wait()
		defer func() {
			for _, c := range conns {
				if c != nil {
					_ = c.Close()
				}
			}
		}()
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, fmt.Errorf("idle connections: %w", err)
		}
		settle()
		with, err = maxRSS(p.pid(), time.Second)
		return before, with, err
	}

	stalled := func() (before, peak float64, err error) {
		p, err := e.startSidecar(ctx, "p6-stalled", sidecarOptions{headCache: true})
		if err != nil {
			return 0, 0, err
		}
		defer p.stop()
		c, err := dialSidecar(ctx, p.socket)
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		settle()
		if before, err = rssMiB(p.pid()); err != nil {
			return 0, 0, err
		}
		const credit = 256
		id, ch, err := c.openRead(topic, big, credit, credit+2)
		if err != nil {
			return 0, 0, err
		}
		got := 0
		for got < credit {
			rep, err := sockclient.Await(ctx, ch)
			if err != nil {
				return 0, 0, fmt.Errorf("stalled read: %w", err)
			}
			ev, ok := rep.(*protocol.ReadEvents)
			if !ok {
				return 0, 0, fmt.Errorf("stalled read: %T before %d events", rep, credit)
			}
			got += len(ev.Events)
		}
		// No more credit: the stream is open and stalled.
		peak, err = maxRSS(p.pid(), e.sz.p6Hold)
		_, _, _ = c.Send(&protocol.CancelRequest{ID: id}, 0)
		return before, peak, err
	}

	var idleBase, idleRSS, stallBase, stallRSS, stallGrowth []float64
	for rep := range e.sz.reps + 1 {
		label := fmt.Sprintf("rep %d/%d", rep, e.sz.reps)
		if rep == 0 {
			label = "warm-up"
		}
		e.log.Printf("P6: %s, %d idle connections", label, e.sz.p6IdleConns)
		b, w, err := idle()
		if err != nil {
			return fmt.Errorf("P6 idle: %w", err)
		}
		e.log.Printf("P6: %s, a stalled reader of %d events", label, e.sz.p6Events)
		sb, sp, err := stalled()
		if err != nil {
			return fmt.Errorf("P6 stalled: %w", err)
		}
		if rep == 0 {
			continue
		}
		idleBase, idleRSS = append(idleBase, b), append(idleRSS, w)
		stallBase, stallRSS, stallGrowth = append(stallBase, sb), append(stallRSS, sp), append(stallGrowth, sp-sb)
	}
	r.add(sc, "RSS after start, no connections", "MiB", idleBase, 1)
	rw := r.add(sc, fmt.Sprintf("RSS with %d idle connections", e.sz.p6IdleConns), "MiB", idleRSS, 1)
	rw.target("<=", 64)
	r.Summary["sidecar_rss_idle_1000_conns_mib"] = round(rw.Value.Median, 1)
	rw = r.add(sc, fmt.Sprintf("RSS while a reader of a %d-event journal stalls (peak)", e.sz.p6Events), "MiB", stallRSS, 1)
	rw.target("<=", 64)
	r.Summary["sidecar_rss_stalled_reader_mib"] = round(rw.Value.Median, 1)
	rw = r.add(sc, "RSS growth while stalled (peak − before the read)", "MiB", stallGrowth, 1)
	rw.target("<=", 16)
	r.note("P6: the stalled journal holds %d events of %d bytes (≥ %.0f MiB of payload); the reader takes its first credit (256 events) and then grants none for %s.",
		e.sz.p6Events, e.sz.payloadBytes, float64(e.sz.p6Events*e.sz.payloadBytes)/(1<<20), e.sz.p6Hold)
	return nil
}

// settle gives a freshly started or freshly loaded sidecar a moment before its RSS is read.
func settle() { time.Sleep(time.Second) }

// maxRSS samples the RSS of pid every 100 ms for d and returns the largest value.
func maxRSS(pid int, d time.Duration) (float64, error) {
	var peak float64
	deadline := time.Now().Add(d)
	for {
		v, err := rssMiB(pid)
		if err != nil {
			return 0, err
		}
		peak = max(peak, v)
		if time.Now().After(deadline) {
			return peak, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
