package sidecar_test

import (
	"reflect"
	"sync"
	"testing"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/protocol"
	"github.com/kjournal/kjournal/sidecar"
)

func TestSidecar_conditionalAppend(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	id := testenv.Name("cond")
	appendIf := func(expected, seqNr int64) protocol.Reply {
		return c.do(&protocol.AppendRequest{Journal: id, Events: []protocol.Event{{SeqNr: seqNr}}, ExpectedSeqNr: expected, Conditional: true})
	}
	wantWrong := func(rep protocol.Reply, actual int64) {
		t.Helper()
		e, ok := rep.(*protocol.Error)
		if !ok || e.Code != protocol.CodeWrongExpectedSeqNr || e.HighestSeqNr != actual {
			t.Fatalf("got %#v, want WRONG_EXPECTED_SEQ_NR with highest_seq_nr %d", rep, actual)
		}
	}
	wantWrong(appendIf(3, 4), 0)
	if rep := appendIf(0, 1); !isAppendReply(rep) {
		t.Fatalf("append to a new journal: %#v", rep)
	}
	wantWrong(appendIf(0, 2), 1)
	if rep := appendIf(1, 2); !isAppendReply(rep) {
		t.Fatalf("append after 1: %#v", rep)
	}
	// An unconditional append moves the head too.
	if rep := c.do(&protocol.AppendRequest{Journal: id, Events: []protocol.Event{{SeqNr: 3}, {SeqNr: 4}}}); !isAppendReply(rep) {
		t.Fatalf("plain append: %#v", rep)
	}
	wantWrong(appendIf(2, 3), 4)

	// Concurrent writers on one sidecar: every success extends the journal by exactly one.
	won := raceConditional(t, []string{h.socket, h.socket}, 4, 10, id, 4)
	events, end := c.readAll(&protocol.ReadRequest{Journal: id, Credit: 1000})
	if got, want := seqNrsOf(events), span(1, int64(4+won)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after %d winning conditional appends read %v, want %v", won, got, want)
	}
	wantEnd(t, end, int64(4+won))
}

// raceConditional runs writersPer writers on each socket, each making rounds attempts to append the
// next seq_nr of journal id with expected_seq_nr, starting from from and retrying from the
// highest_seq_nr a WRONG_EXPECTED_SEQ_NR reports. It returns how many appends succeeded.
func raceConditional(t *testing.T, sockets []string, writersPer, rounds int, id string, from int64) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for _, socket := range sockets {
		for range writersPer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := connect(t, socket)
				expected := from
				for range rounds {
					rep := cl.do(&protocol.AppendRequest{Journal: id, Events: []protocol.Event{{SeqNr: expected + 1}}, ExpectedSeqNr: expected, Conditional: true})
					switch r := rep.(type) {
					case *protocol.AppendReply:
						mu.Lock()
						won++
						mu.Unlock()
						expected++
					case *protocol.Error:
						if r.Code != protocol.CodeWrongExpectedSeqNr {
							t.Errorf("conditional append: %v", r)
							return
						}
						expected = r.HighestSeqNr
					}
				}
			}()
		}
	}
	wg.Wait()
	return won
}

// Across sidecar processes, conditional appends without --fence are not exact: two sidecars can both
// find the journal at N and both write N+1 (PROTOCOL.md, "Conditional append"); the test counts such
// violations and reports them. With --fence there are none. Either way the journal stays readable and
// gapless (readers drop a second N+1).
func TestSidecar_conditionalAppendAcrossSidecars(t *testing.T) {
	const sidecars, writersPer, rounds = 3, 3, 15
	for _, c := range []struct {
		name  string
		args  []string
		exact bool
	}{
		{"unfenced", nil, false},
		{"fenced", []string{"--fence"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sockets []string
			for range sidecars {
				sockets = append(sockets, startProcess(t, c.args...).socket)
			}
			id := testenv.Name("cross")
			won := raceConditional(t, sockets, writersPer, rounds, id, 0)
			cl := connect(t, sockets[0])
			events, end := cl.readAll(&protocol.ReadRequest{Journal: id, Credit: 10000})
			highest := int64(len(events))
			if got, want := seqNrsOf(events), span(1, highest); !reflect.DeepEqual(got, want) {
				t.Fatalf("read %v, want 1..%d", got, highest)
			}
			wantEnd(t, end, highest)
			violations := int64(won) - highest
			t.Logf("%s: %d sidecars × %d writers × %d rounds: %d conditional appends succeeded, the journal has %d events: %d violations",
				c.name, sidecars, writersPer, rounds, won, highest, violations)
			if violations < 0 || c.exact && violations != 0 {
				t.Fatalf("%d conditional appends succeeded but the journal has %d events", won, highest)
			}
		})
	}
}

func isAppendReply(rep protocol.Reply) bool {
	_, ok := rep.(*protocol.AppendReply)
	return ok
}

func TestSidecar_snapshots(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	id := testenv.Name("snap")
	load := func(crit protocol.SnapshotCriteria) *protocol.SnapshotRecord {
		t.Helper()
		rep, ok := c.do(&protocol.LoadSnapshotRequest{Journal: id, SnapshotCriteria: crit}).(*protocol.LoadSnapshotReply)
		if !ok {
			t.Fatalf("load_snapshot: %#v", rep)
		}
		return rep.Snapshot
	}
	if s := load(protocol.NewSnapshotCriteria()); s != nil {
		t.Fatalf("a new journal has snapshot %#v", s)
	}
	for i := int64(1); i <= 12; i++ {
		rep := c.do(&protocol.SaveSnapshotRequest{Journal: id, SeqNr: i * 10, PayloadType: protocol.PayloadJSON,
			Payload: map[string]any{"n": i}, Metadata: "m", Timestamp: 1000 + i, HasTimestamp: true})
		if r, ok := rep.(*protocol.SaveSnapshotReply); !ok || r.Timestamp != 1000+i {
			t.Fatalf("save %d: %#v", i, rep)
		}
	}
	s := load(protocol.NewSnapshotCriteria())
	if s == nil || s.SeqNr != 120 || !reflect.DeepEqual(s.Payload, map[string]any{"n": int64(12)}) || s.Metadata != "m" || s.Timestamp != 1012 {
		t.Fatalf("latest: %#v", s)
	}
	// The buffer keeps the 10 latest: 10 and 20 were replaced.
	crit := protocol.NewSnapshotCriteria()
	crit.MaxSeqNr = 25
	if s := load(crit); s != nil {
		t.Fatalf("snapshot %d survived the ring buffer", s.SeqNr)
	}
	crit.MaxSeqNr = 35
	if s := load(crit); s == nil || s.SeqNr != 30 {
		t.Fatalf("max_seq_nr 35: %#v", s)
	}
	rep := c.do(&protocol.DeleteSnapshotsRequest{Journal: id, SeqNr: 120, HasSeqNr: true, SnapshotCriteria: protocol.NewSnapshotCriteria()})
	if r, ok := rep.(*protocol.DeleteSnapshotsReply); !ok || r.Deleted != 1 {
		t.Fatalf("delete 120: %#v", rep)
	}
	if s := load(protocol.NewSnapshotCriteria()); s == nil || s.SeqNr != 110 {
		t.Fatalf("after deleting 120: %#v", s)
	}
	crit = protocol.NewSnapshotCriteria()
	crit.MaxTimestamp = 1005
	rep = c.do(&protocol.DeleteSnapshotsRequest{Journal: id, SnapshotCriteria: crit})
	if r, ok := rep.(*protocol.DeleteSnapshotsReply); !ok || r.Deleted != 3 {
		t.Fatalf("delete up to timestamp 1005: %#v", rep)
	}
	crit.MaxTimestamp, crit.MaxSeqNr = 1010, 1000
	if s := load(crit); s == nil || s.SeqNr != 100 {
		t.Fatalf("after deleting 30..50: %#v", s)
	}
	// Binary and text payloads, and a save over the same seq_nr.
	c.do(&protocol.SaveSnapshotRequest{Journal: id, SeqNr: 200, PayloadType: protocol.PayloadBinary, Payload: []byte{1, 2}})
	c.do(&protocol.SaveSnapshotRequest{Journal: id, SeqNr: 200, PayloadType: protocol.PayloadText, Payload: "two hundred"})
	if s := load(protocol.NewSnapshotCriteria()); s == nil || s.SeqNr != 200 || s.Payload != "two hundred" || s.Origin == "" || s.Version == "" {
		t.Fatalf("overwritten 200: %#v", s)
	}
}

func TestSidecar_snapshotsUnavailable(t *testing.T) {
	h := startSidecar(t, func(c *sidecar.Config) { c.Snapshots = nil })
	c := connect(t, h.socket)
	rep := c.do(&protocol.LoadSnapshotRequest{Journal: "j", SnapshotCriteria: protocol.NewSnapshotCriteria()})
	if e, ok := rep.(*protocol.Error); !ok || e.Code != protocol.CodeSnapshotsUnavailable {
		t.Fatalf("load_snapshot without a store: %#v", rep)
	}
}
