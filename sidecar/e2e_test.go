package sidecar_test

import (
	"testing"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/protocol"
)

func TestSidecar_Operations(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	id := testenv.Name("ops")

	if rep := c.do(&protocol.PingRequest{}); rep == nil {
		t.Fatal("no pong")
	}
	if rep, ok := c.do(&protocol.PointerRequest{Journal: id}).(*protocol.PointerReply); !ok || rep.SeqNr != 0 {
		t.Fatalf("pointer of a new journal: %#v", rep)
	}
	c.mustAppend(id, textEvents(1, 3))
	c.mustAppend(id, []protocol.Event{
		{SeqNr: 4, Tags: []string{"b", "a"}, PayloadType: protocol.PayloadJSON, Payload: map[string]any{"a": int64(1)}},
		{SeqNr: 5, PayloadType: protocol.PayloadBinary, Payload: []byte{0, 1}},
		{SeqNr: 6},
	})
	events, end := c.readAll(&protocol.ReadRequest{Journal: id, Credit: 2})
	if e, ok := end.(*protocol.ReadEnd); !ok || e.HighestSeqNr != 6 {
		t.Fatalf("end: %#v", end)
	}
	if len(events) != 6 {
		t.Fatalf("read %d events, want 6", len(events))
	}
	for i, e := range events {
		if e.SeqNr != int64(i+1) {
			t.Fatalf("event %d has seq_nr %d", i, e.SeqNr)
		}
	}
	if events[3].PayloadType != protocol.PayloadJSON || len(events[3].Tags) != 2 || events[4].PayloadType != protocol.PayloadBinary || events[5].PayloadType != protocol.PayloadNone {
		t.Fatalf("payloads: %#v", events[3:])
	}
}
