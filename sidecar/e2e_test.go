package sidecar_test

// End-to-end tests through the socket on the real stack (KAFKA_BROKERS, CASSANDRA_HOSTS).

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/protocol"
	"github.com/kjournal/kjournal/sidecar"
)

func seqNrsOf(events []protocol.EventRecord) []int64 {
	var out []int64
	for _, e := range events {
		out = append(out, e.SeqNr)
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func wantEnd(tb testing.TB, rep protocol.Reply, highest int64) {
	tb.Helper()
	if e, ok := rep.(*protocol.ReadEnd); !ok || e.HighestSeqNr != highest {
		tb.Fatalf("final frame %#v, want end with highest_seq_nr %d", rep, highest)
	}
}

func TestSidecar_Operations(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)

	t.Run("append and read back every field", func(t *testing.T) {
		id := testenv.Name("fields")
		events := []protocol.Event{
			{SeqNr: 1, PayloadType: protocol.PayloadText, Payload: "hello"},
			{SeqNr: 2, Tags: []string{"b", "a", "b"}, PayloadType: protocol.PayloadJSON, Payload: map[string]any{
				"n": int64(-5), "big": uint64(math.MaxUint64), "f": 0.5, "s": "ü<&>", "l": []any{nil, true, map[string]any{}}}},
			{SeqNr: 3, PayloadType: protocol.PayloadBinary, Payload: []byte{0, 1, 2}},
			{SeqNr: 4},
			{SeqNr: 5, PayloadType: protocol.PayloadJSON, Payload: "a json string"},
			{SeqNr: 6, PayloadType: protocol.PayloadJSON, Payload: nil},
		}
		rep := c.do(&protocol.AppendRequest{Journal: id, Events: events, ExpireAfterMs: 3600_000,
			Metadata: map[string]any{"m": int64(1)}, PayloadMetadata: []any{"pm"}, Headers: map[string]string{"h": "v"}})
		ar, ok := rep.(*protocol.AppendReply)
		if !ok {
			t.Fatalf("append: %#v", rep)
		}
		got, end := c.readAll(&protocol.ReadRequest{Journal: id, Credit: 1})
		wantEnd(t, end, 6)
		if !reflect.DeepEqual(seqNrsOf(got), span(1, 6)) {
			t.Fatalf("read %v", seqNrsOf(got))
		}
		for i, r := range got {
			if r.Partition != ar.Partition || r.Offset != ar.Offset || r.ExpireAfterMs != 3600_000 ||
				!reflect.DeepEqual(r.Metadata, map[string]any{"m": int64(1)}) || !reflect.DeepEqual(r.PayloadMetadata, []any{"pm"}) ||
				!reflect.DeepEqual(r.Headers, map[string]string{"h": "v"}) || r.Origin == "" || r.Version == "" ||
				time.Since(time.UnixMilli(r.Timestamp)) > time.Minute {
				t.Errorf("record %d: %+v", i, r)
			}
			want := events[i]
			if r.PayloadType != want.PayloadType || !reflect.DeepEqual(r.Payload, want.Payload) {
				t.Errorf("record %d payload %s %#v, want %s %#v", i, r.PayloadType, r.Payload, want.PayloadType, want.Payload)
			}
		}
		if !reflect.DeepEqual(got[1].Tags, []string{"a", "b"}) {
			t.Errorf("tags %v", got[1].Tags)
		}
	})

	t.Run("pointer, ranges, delete, purge", func(t *testing.T) {
		id := testenv.Name("life")
		if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 0 {
			t.Fatalf("pointer of a new journal: %#v", rep)
		}
		events, end := c.readAll(&protocol.ReadRequest{Journal: id})
		wantEnd(t, end, 0)
		if len(events) != 0 {
			t.Fatalf("events of a new journal: %v", seqNrsOf(events))
		}
		if rep, ok := c.do(&protocol.DeleteRequest{Journal: id, To: 5}).(*protocol.DeleteReply); !ok || rep.Deleted {
			t.Fatalf("delete of a new journal: %#v", rep)
		}
		for s := int64(1); s <= 20; s += 5 {
			c.mustAppend(id, textEvents(s, s+4))
		}
		if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 20 {
			t.Fatalf("pointer: %#v", rep)
		}
		for _, tc := range []struct {
			from, to, max int64
			want          []int64
		}{
			{0, 0, 0, span(1, 20)},
			{5, 0, 0, span(5, 20)},
			{5, 9, 0, span(5, 9)},
			{5, 0, 3, span(5, 7)},
			{3, 4, 10, span(3, 4)},
			{20, 0, 0, []int64{20}},
			{21, 0, 0, nil},
			{9, 5, 0, nil},
			{1, math.MaxInt64, math.MaxInt64, span(1, 20)},
		} {
			events, end := c.readAll(&protocol.ReadRequest{Journal: id, From: tc.from, To: tc.to, Max: tc.max, Credit: 2})
			wantEnd(t, end, 20)
			if !reflect.DeepEqual(seqNrsOf(events), tc.want) {
				t.Errorf("read from %d to %d max %d: %v, want %v", tc.from, tc.to, tc.max, seqNrsOf(events), tc.want)
			}
		}
		if rep, ok := c.do(&protocol.DeleteRequest{Journal: id, To: 7}).(*protocol.DeleteReply); !ok || !rep.Deleted {
			t.Fatalf("delete: %#v", rep)
		}
		events, end = c.readAll(&protocol.ReadRequest{Journal: id})
		wantEnd(t, end, 20)
		if !reflect.DeepEqual(seqNrsOf(events), span(8, 20)) {
			t.Fatalf("after delete to 7: %v", seqNrsOf(events))
		}
		// Delete to the end keeps the highest seq_nr.
		if rep, ok := c.do(&protocol.DeleteRequest{Journal: id, To: math.MaxInt64}).(*protocol.DeleteReply); !ok || !rep.Deleted {
			t.Fatalf("delete to max: %#v", rep)
		}
		events, end = c.readAll(&protocol.ReadRequest{Journal: id})
		wantEnd(t, end, 20)
		if len(events) != 0 {
			t.Fatalf("after delete to max: %v", seqNrsOf(events))
		}
		if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 20 {
			t.Fatalf("pointer after delete: %#v", rep)
		}
		if _, ok := c.do(&protocol.PurgeRequest{Journal: id}).(*protocol.PurgeReply); !ok {
			t.Fatal("purge failed")
		}
		if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 0 {
			t.Fatalf("pointer after purge: %#v", rep)
		}
		// The next append starts the journal anew.
		c.mustAppend(id, textEvents(1, 2))
		events, end = c.readAll(&protocol.ReadRequest{Journal: id})
		wantEnd(t, end, 2)
		if !reflect.DeepEqual(seqNrsOf(events), span(1, 2)) {
			t.Fatalf("after purge and append: %v", seqNrsOf(events))
		}
	})

	t.Run("other topic and the largest seq_nr", func(t *testing.T) {
		id, topic := testenv.Name("top"), testenv.Name("other")
		rep := c.do(&protocol.AppendRequest{Journal: id, Topic: topic, Events: []protocol.Event{{SeqNr: math.MaxInt64 - 1}, {SeqNr: math.MaxInt64}}})
		if _, ok := rep.(*protocol.AppendReply); !ok {
			t.Fatalf("append: %#v", rep)
		}
		events, end := c.readAll(&protocol.ReadRequest{Journal: id, Topic: topic})
		wantEnd(t, end, math.MaxInt64)
		if !reflect.DeepEqual(seqNrsOf(events), []int64{math.MaxInt64 - 1, math.MaxInt64}) {
			t.Fatalf("read %v", seqNrsOf(events))
		}
		// The default topic does not have it.
		if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 0 {
			t.Fatalf("pointer in the default topic: %#v", rep)
		}
	})

	t.Run("record too large", func(t *testing.T) {
		// Within max_frame_bytes, beyond the producer's 1 MiB: not retryable.
		big := []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadBinary, Payload: make([]byte, 2<<20)}}
		e := wantError(t, c.do(&protocol.AppendRequest{Journal: testenv.Name("big"), Events: big}), protocol.CodeRecordTooLarge)
		if e.Retryable {
			t.Fatal("RECORD_TOO_LARGE is retryable")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		// A deadline too short for a Mark round trip.
		rep := c.do(&protocol.PointerRequest{Journal: testenv.Name("slow"), TimeoutMs: 1})
		if e, ok := rep.(*protocol.Error); ok && (e.Code != protocol.CodeTimeout || !e.Retryable) {
			t.Fatalf("pointer with 1 ms: %v", e)
		}
	})
}

// TestSidecar_Concurrent sends 500 concurrent appends, then 500 concurrent reads, on one connection
// and spread over 100 connections.
func TestSidecar_Concurrent(t *testing.T) {
	h := startSidecar(t, func(cfg *sidecar.Config) { cfg.MaxInFlight = 1000 })
	for _, conns := range []int{1, 100} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			clients := make([]*client, conns)
			for i := range clients {
				clients[i] = connect(t, h.socket)
			}
			prefix := testenv.Name("conc")
			const n = 500
			start := time.Now()
			parallel(t, n, func(i int) error {
				c := clients[i%conns]
				rep := c.do(&protocol.AppendRequest{Journal: fmt.Sprintf("%s-%d", prefix, i), Events: textEvents(1, 2)})
				if _, ok := rep.(*protocol.AppendReply); !ok {
					return fmt.Errorf("append %d: %v", i, rep)
				}
				return nil
			})
			appended := time.Since(start)
			start = time.Now()
			parallel(t, n, func(i int) error {
				c := clients[i%conns]
				events, end := c.readAll(&protocol.ReadRequest{Journal: fmt.Sprintf("%s-%d", prefix, i)})
				if e, ok := end.(*protocol.ReadEnd); !ok || e.HighestSeqNr != 2 || !reflect.DeepEqual(seqNrsOf(events), span(1, 2)) {
					return fmt.Errorf("read %d: %v %#v", i, seqNrsOf(events), end)
				}
				return nil
			})
			t.Logf("%d connections: %d concurrent appends in %s, %d concurrent reads in %s", conns, n, appended, n, time.Since(start))
		})
	}
}

// parallel runs f(0..n-1) at once and fails the test with the first errors.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d failed", failed, n)
	}
}

// TestSidecar_StalledReader stalls one stream without credit while other requests on the same
// connection, reads included, complete; then the stalled stream resumes where it stopped.
func TestSidecar_StalledReader(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	stalled := testenv.Name("stalled")
	c.mustAppend(stalled, textEvents(1, 100))
	id, ch := c.send(&protocol.ReadRequest{Journal: stalled, Credit: 1}, 16)
	if ev, ok := c.await(ch).(*protocol.ReadEvents); !ok || !reflect.DeepEqual(seqNrsOf(ev.Events), []int64{1}) {
		t.Fatalf("first frame: %#v", ev)
	}
	other := testenv.Name("other")
	parallel(t, 50, func(i int) error {
		j := fmt.Sprintf("%s-%d", other, i)
		if rep, ok := c.do(&protocol.AppendRequest{Journal: j, Events: textEvents(1, 3)}).(*protocol.AppendReply); !ok {
			return fmt.Errorf("append: %#v", rep)
		}
		if events, end := c.readAll(&protocol.ReadRequest{Journal: j, Credit: 1}); len(events) != 3 {
			return fmt.Errorf("read: %v %#v", seqNrsOf(events), end)
		}
		if rep, ok := c.do(&protocol.PointerRequest{Journal: j}).(*protocol.PointerReply); !ok || rep.SeqNr != 3 {
			return fmt.Errorf("pointer: %#v", rep)
		}
		return nil
	})
	select {
	case rep := <-ch:
		t.Fatalf("the stalled stream sent %#v without credit", rep)
	default:
	}
	c.send(&protocol.CreditRequest{ID: id, N: 1000}, 0)
	var got []int64
	for {
		rep := c.await(ch)
		if ev, ok := rep.(*protocol.ReadEvents); ok {
			got = append(got, seqNrsOf(ev.Events)...)
			continue
		}
		wantEnd(t, rep, 100)
		break
	}
	if !reflect.DeepEqual(got, span(2, 100)) {
		t.Fatalf("resumed stream: %v", got)
	}
}

// TestSidecar_CancelMidStream cancels a stream between frames: it ends with CANCELLED, its resources
// are released and its id can be used again.
func TestSidecar_CancelMidStream(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	j := testenv.Name("cancel")
	c.mustAppend(j, textEvents(1, 50))
	id, ch := c.send(&protocol.ReadRequest{Journal: j, Credit: 5}, 16)
	if ev, ok := c.await(ch).(*protocol.ReadEvents); !ok || !reflect.DeepEqual(seqNrsOf(ev.Events), span(1, 5)) {
		t.Fatalf("first frame: %#v", ev)
	}
	c.send(&protocol.CancelRequest{ID: id}, 0)
	e := wantError(t, c.await(ch), protocol.CodeCancelled)
	if e.ID != id || e.Retryable {
		t.Fatalf("cancel: %+v", e)
	}
	eventually(t, "the stream released", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 0 })
	// The id is free: a new read with it runs to its end.
	events, end := c.readAll(&protocol.ReadRequest{ID: id, Journal: j})
	wantEnd(t, end, 50)
	if len(events) != 50 {
		t.Fatalf("read with the reused id: %d events", len(events))
	}
}

// TestSidecar_PipelinedAppendsKeepOrder sends 200 appends to one journal on one connection without
// waiting for any reply: the sidecar hands them to the producer in the order they arrived, so their
// offsets increase with their seqNrs and the read returns them all.
func TestSidecar_PipelinedAppendsKeepOrder(t *testing.T) {
	h := startSidecar(t, func(cfg *sidecar.Config) { cfg.MaxInFlight = 1000 })
	c := connect(t, h.socket)
	id := testenv.Name("order")
	const n = 200
	replies := make([]<-chan protocol.Reply, n)
	for i := range replies {
		_, replies[i] = c.send(&protocol.AppendRequest{Journal: id, Events: textEvents(int64(i+1), int64(i+1))}, 1)
	}
	var last *protocol.AppendReply
	for i, ch := range replies {
		rep, ok := c.await(ch).(*protocol.AppendReply)
		if !ok {
			t.Fatalf("append %d: %v", i+1, rep)
		}
		if last != nil && (rep.Partition != last.Partition || rep.Offset <= last.Offset) {
			t.Fatalf("append of seqNr %d at %d/%d, after seqNr %d at %d/%d", i+1, rep.Partition, rep.Offset, i, last.Partition, last.Offset)
		}
		last = rep
	}
	events, end := c.readAll(&protocol.ReadRequest{Journal: id})
	wantEnd(t, end, n)
	if got := seqNrsOf(events); !reflect.DeepEqual(got, span(1, n)) {
		t.Fatalf("read %v, want 1..%d", got, n)
	}
}
