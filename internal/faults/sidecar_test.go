package faults_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sidecarKilled (item 1): 200 clients append concurrently (each to its own journal, one event at a
// time, 20 connections), the sidecar gets SIGKILL. Every client's call fails promptly (the
// connection closes: no hang); after a restart each client's next call reconnects; every journal
// reads back 1..k in order where k is the client's last acknowledged seqNr or, when the append in
// flight at the kill reached Kafka, that one more.
func sidecarKilled(t *testing.T, s *stack) {
	s.must(t, "start", "sidecar")
	topic := topicName("sidecar")
	const workers, conns = 200, 20
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = newClient(s.socket)
		defer clients[i].Close()
	}
	type result struct {
		acked    int64 // last acknowledged seqNr
		errAfter time.Duration
		err      error
	}
	results := make([]result, workers)
	var killedAt atomic.Int64
	var appends atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, id := clients[w%conns], fmt.Sprintf("j%03d", w)
			for n := int64(1); ; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := c.append(ctx, topic, id, 10000, n)
				cancel()
				if err != nil {
					results[w].err = err
					if k := killedAt.Load(); k != 0 {
						results[w].errAfter = time.Since(time.Unix(0, k))
					}
					return
				}
				results[w].acked = n
				appends.Add(1)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	pid := s.pid(t, "sidecar")
	killedAt.Store(time.Now().UnixNano())
	s.must(t, "kill", "sidecar")
	wg.Wait()
	var maxAfter time.Duration
	acked := int64(0)
	codes := map[string]int{}
	for w, r := range results {
		if r.errAfter == 0 {
			t.Fatalf("client %d failed before the kill: %v", w, r.err)
		}
		maxAfter = max(maxAfter, r.errAfter)
		acked += r.acked
		codes[fmt.Sprint(r.err)]++
	}
	t.Logf("sidecar pid %d killed after %d acknowledged appends; all %d clients got an error within %v of the kill: %v",
		pid, appends.Load(), workers, maxAfter.Round(time.Millisecond), codes)
	if maxAfter > 5*time.Second {
		t.Errorf("a client waited %v for its error after the kill", maxAfter)
	}

	// While the sidecar is down, a call fails at once (the socket refuses).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := clients[0].append(ctx, topic, "j000", 0, 1_000_000); err == nil {
		t.Fatal("append succeeded with the sidecar down")
	} else {
		t.Logf("with the sidecar down: %v", err)
	}
	d := s.must(t, "start", "sidecar")
	t.Logf("sidecar restarted and ready in %v", d.Round(time.Millisecond))

	// Every client's next call reconnects; every acknowledged append is there, in order, no gaps.
	inFlightWritten := 0
	for w, r := range results {
		c, id := clients[w%conns], fmt.Sprintf("j%03d", w)
		rr, err := c.read(ctx, topic, id, 20000)
		if err != nil {
			t.Fatalf("read %s after the restart: %v", id, err)
		}
		k := int64(len(rr.seqNrs))
		if !slices.Equal(rr.seqNrs, seqRange(1, k)) || !rr.ok || rr.highest != k {
			t.Fatalf("%s: read %v (highest %d, payloads ok %v), want 1..k", id, rr.seqNrs, rr.highest, rr.ok)
		}
		switch k {
		case r.acked:
		case r.acked + 1:
			inFlightWritten++ // the append in flight at the kill reached Kafka; its reply did not
		default:
			t.Fatalf("%s: %d events read, %d acknowledged", id, k, r.acked)
		}
		if _, err := c.append(ctx, topic, id, 0, k+1); err != nil {
			t.Fatalf("append to %s after the restart: %v", id, err)
		}
	}
	t.Logf("after the restart: all %d journals read 1..k in order with no gap, %d acknowledged appends all present; "+
		"%d of the %d appends in flight at the kill had reached Kafka; every client appended again on a new connection",
		workers, acked, inFlightWritten, workers)
}
