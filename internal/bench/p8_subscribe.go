package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kjournal/kjournal/internal/sockclient"
	"github.com/kjournal/kjournal/protocol"
)

// P8: subscription delivery latency. p8Subscribers subscriptions (one journal each, all on one
// connection, as a service holding many live entities would) stay open on the sidecar; a writer on
// another connection appends single events round-robin to their journals, one at a time. For every
// append, the latency is the time from the writer receiving the append's ack to the subscriber
// receiving the event (clamped at 0: the event may arrive before the ack). It measures the follow path:
// Kafka → the sidecar's one shared consumer → the head cache index → the subscription's frame.
func (e *env) runP8(ctx context.Context, r *report) error {
	const sc = "P8 subscription delivery"
	socket, err := e.sidecarSocket(ctx)
	if err != nil {
		return err
	}
	topic := e.name("p8")
	writer, err := dialSidecar(ctx, socket)
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", socket, err)
	}
	defer writer.Close()
	subs, err := dialSidecar(ctx, socket)
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", socket, err)
	}
	defer subs.Close()

	var p50, p99 []float64
	for rep := range e.sz.reps + 1 { // the first round warms up
		journals := make([]string, e.sz.p8Subscribers)
		for i := range journals {
			journals[i] = fmt.Sprintf("%s-%d-%d", topic, rep, i)
			// One event first, so that the subscription's catch-up read is over before measuring.
			if _, err := writer.appendEvents(ctx, topic, journals[i], []protocol.Event{{SeqNr: 1}}); err != nil {
				return fmt.Errorf("P8 append: %w", err)
			}
		}
		lat, err := e.p8Round(ctx, writer, subs, topic, journals)
		if err != nil {
			return err
		}
		if rep == 0 {
			continue
		}
		msv := msOf(lat)
		p50 = append(p50, percentile(msv, 0.5))
		p99 = append(p99, percentile(msv, 0.99))
	}
	label := fmt.Sprintf("append ack → delivered, %d subscriptions on one sidecar", e.sz.p8Subscribers)
	rw := r.add(sc, "p50 "+label, "ms", p50, 2)
	r.Summary["subscribe_delivery_p50_ms"] = round(rw.Value.Median, 3)
	rw = r.add(sc, "p99 "+label, "ms", p99, 2)
	r.Summary["subscribe_delivery_p99_ms"] = round(rw.Value.Median, 3)
	return nil
}

// p8Round subscribes to journals (each already holding seq_nr 1), appends p8Appends events
// round-robin and returns each one's ack → delivery latency.
func (e *env) p8Round(ctx context.Context, writer, subs *sockClient, topic string, journals []string) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type key struct {
		journal int
		seqNr   int64
	}
	var mu sync.Mutex
	acked := map[key]time.Time{}
	arrived := map[key]time.Time{}
	ready := make(chan error, len(journals))
	var wg sync.WaitGroup
	for i, j := range journals {
		id, ch, err := subs.Send(&protocol.SubscribeRequest{Journal: j, Topic: topic, Credit: 1000}, 1024)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _, _, _ = subs.Send(&protocol.CancelRequest{ID: id}, 0) }()
			first := true
			for {
				rep, err := sockclient.Await(ctx, ch)
				if err != nil {
					if first {
						ready <- err
					}
					return
				}
				ev, ok := rep.(*protocol.ReadEvents)
				if !ok {
					err := fmt.Errorf("P8 subscription: %v", rep)
					if first {
						ready <- err
					}
					return
				}
				now := time.Now()
				mu.Lock()
				for _, r := range ev.Events {
					arrived[key{i, r.SeqNr}] = now
				}
				mu.Unlock()
				if _, _, err := subs.Send(&protocol.CreditRequest{ID: id, N: uint32(len(ev.Events))}, 0); err != nil {
					return
				}
				if first {
					first = false
					ready <- nil // caught up: seq_nr 1 arrived
				}
			}
		}()
	}
	for range journals {
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	n := e.sz.p8Appends
	for k := range n {
		i, seq := k%len(journals), int64(2+k/len(journals))
		if _, err := writer.appendEvents(ctx, topic, journals[i], []protocol.Event{{SeqNr: seq}}); err != nil {
			return nil, fmt.Errorf("P8 append: %w", err)
		}
		now := time.Now()
		mu.Lock()
		acked[key{i, seq}] = now
		mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := 0
		for k := range acked {
			if _, ok := arrived[k]; ok {
				got++
			}
		}
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("P8: %d of %d appended events delivered within 30s", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	out := make([]time.Duration, 0, n)
	for k, at := range acked {
		out = append(out, max(0, arrived[k].Sub(at)))
	}
	return out, nil
}
