package sidecar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
	"github.com/kjournal/kjournal/protocol"
)

// stallingLog is an in-memory Log that never acknowledges the records of journals named stall-*:
// like the Kafka producer, it reports their context's end instead.
type stallingLog struct{ journaltest.Log }

func (l *stallingLog) ProduceAsync(ctx context.Context, a journal.Action, done func(journal.PartitionOffset, error)) {
	if strings.HasPrefix(a.Key.ID, "stall-") {
		context.AfterFunc(ctx, func() { done(journal.PartitionOffset{}, ctx.Err()) })
		return
	}
	l.Log.ProduceAsync(ctx, a, done)
}

// TestSidecar_AppendDeadline checks the deadlines of appends that share one context
// (appendDeadline): an append acknowledged at once releases its hold without ending the deadline
// of a stalled one read just before it, which fails with TIMEOUT at its timeout_ms (up to 5 ms
// early, the sharing's slack).
func TestSidecar_AppendDeadline(t *testing.T) {
	js, err := journal.New(journal.Config{Log: &stallingLog{}, Eventual: &journaltest.Eventual{}})
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, js, "journal")
	c := connect(t, h.socket)
	ev := []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadText, Payload: "x"}}
	const timeout = 200 * time.Millisecond
	for round := range 3 { // later rounds take a new shared deadline, the first one released
		start := time.Now()
		_, stalled := c.send(&protocol.AppendRequest{Journal: "stall-1", Events: ev, TimeoutMs: uint32(timeout / time.Millisecond)}, 1)
		for i := range 5 {
			seq := int64(round*5 + i + 1)
			rep := c.do(&protocol.AppendRequest{Journal: "fast", TimeoutMs: uint32(timeout / time.Millisecond),
				Events: []protocol.Event{{SeqNr: seq, PayloadType: protocol.PayloadText, Payload: "y"}}})
			if _, ok := rep.(*protocol.AppendReply); !ok {
				t.Fatalf("round %d: fast append: %v", round, rep)
			}
		}
		e := wantError(t, c.await(stalled), protocol.CodeTimeout)
		if took := time.Since(start); took < timeout-5*time.Millisecond {
			t.Fatalf("round %d: TIMEOUT after %s, before the %s deadline", round, took, timeout)
		}
		if !e.Retryable {
			t.Fatalf("round %d: TIMEOUT not retryable: %v", round, e)
		}
	}
}
