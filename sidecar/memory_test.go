package sidecar_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/protocol"
)

// liveHeap is the heap still reachable after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestSidecar_StalledStreamLiveHeap reads a 200,000-event journal (about 60 MiB on the wire) through
// an in-process sidecar: while the client grants no credit the live heap does not grow, and while it
// reads everything the live heap stays within a few frames of where it started.
func TestSidecar_StalledStreamLiveHeap(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	topic, j := testenv.Name("heap"), testenv.Name("big")
	const total, batch = 200_000, 1000
	for s := int64(1); s <= total; s += batch {
		events := make([]protocol.Event, batch)
		for i := range events {
			events[i] = protocol.Event{SeqNr: s + int64(i), PayloadType: protocol.PayloadText, Payload: randomText(payloadSize)}
		}
		if rep, ok := c.do(&protocol.AppendRequest{Journal: j, Topic: topic, Events: events}).(*protocol.AppendReply); !ok {
			t.Fatalf("append at %d: %#v", s, rep)
		}
	}
	// Warm the topic's head cache up, so that the baseline has it.
	if rep, ok := c.do(&protocol.PointerRequest{Journal: j, Topic: topic}).(*protocol.PointerReply); !ok || rep.SeqNr != total {
		t.Fatalf("pointer: %#v", rep)
	}
	time.Sleep(500 * time.Millisecond)
	base := liveHeap()

	id, ch := c.send(&protocol.ReadRequest{Journal: j, Topic: topic, Credit: batch}, 1024)
	got := 0
	for got < batch {
		ev, ok := c.await(ch).(*protocol.ReadEvents)
		if !ok {
			t.Fatal("no events")
		}
		got += len(ev.Events)
	}
	time.Sleep(time.Second)
	stalled := liveHeap()
	if metric(t, h.reg, "kjournal_sidecar_open_streams") != 1 {
		t.Fatal("the stream is not open")
	}

	peak := stalled
	c.send(&protocol.CreditRequest{ID: id, N: batch}, 0)
	next, frames := int64(got+1), 0
	for {
		rep := c.await(ch)
		ev, ok := rep.(*protocol.ReadEvents)
		if !ok {
			wantEnd(t, rep, total)
			break
		}
		for _, e := range ev.Events {
			if e.SeqNr != next {
				t.Fatalf("seq_nr %d, want %d", e.SeqNr, next)
			}
			next++
		}
		if frames++; frames%20 == 0 {
			peak = max(peak, liveHeap())
		}
		c.send(&protocol.CreditRequest{ID: id, N: uint32(len(ev.Events))}, 0)
	}
	if next != total+1 {
		t.Fatalf("read up to %d", next-1)
	}
	t.Logf("live heap: %.1f MiB before the read, %.1f MiB (%+.1f) with the stream stalled after %d events, peak %.1f MiB (%+.1f) while reading %d events in %d frames",
		float64(base)/mib, float64(stalled)/mib, float64(stalled-base)/mib, batch, float64(peak)/mib, float64(peak-base)/mib, total, frames+1)
	if stalled-base > 8*mib {
		t.Errorf("the live heap grew by %.1f MiB while the stream had no credit", float64(stalled-base)/mib)
	}
	if peak-base > 24*mib {
		t.Errorf("the live heap grew by %.1f MiB while streaming", float64(peak-base)/mib)
	}
}
