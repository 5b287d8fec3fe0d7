package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kjournal/kjournal/internal/sockclient"
	"github.com/kjournal/kjournal/protocol"
)

// P7: recover() of a long journal with and without a snapshot — what a client's recover does
// (load_snapshot, then read the events after it) through the sidecar, timed end to end. Two
// journals of p7Events events each, replicated to Cassandra; the second gets a snapshot at its last
// seq_nr, so its recovery reads no events.
func (e *env) runP7(ctx context.Context, r *report) error {
	const sc = "P7 snapshots"
	topic := e.name("p7")
	plain, snapped := e.name("p7plain"), e.name("p7snap")
	n := e.sz.p7Events
	e.log.Printf("P7: 2 journals × %d events, replicated", n)
	last, err := e.appendAll(ctx, topic, []string{plain, snapped}, 1, n, 1000, randomPayload(e.sz.payloadBytes))
	if err != nil {
		return fmt.Errorf("P7 seed: %w", err)
	}
	if err := e.replicate(ctx, topic, last); err != nil {
		return fmt.Errorf("P7 seed: %w", err)
	}
	socket, err := e.sidecarSocket(ctx)
	if err != nil {
		return err
	}
	c, err := dialSidecar(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	state := map[string]any{"balance": int64(n), "note": randomHex(250)}
	rep, err := c.Do(ctx, &protocol.SaveSnapshotRequest{Journal: snapped, Topic: topic, SeqNr: int64(n), PayloadType: protocol.PayloadJSON, Payload: state})
	if err != nil {
		return fmt.Errorf("P7 save_snapshot: %w", err)
	}
	if _, ok := rep.(*protocol.SaveSnapshotReply); !ok {
		return fmt.Errorf("P7 save_snapshot: unexpected reply %T", rep)
	}
	var with, without []float64
	for i := range e.sz.reps + 1 { // the first round warms the sidecar up and is not counted
		d0, err := c.recoverJournal(ctx, topic, plain, 0, int64(n))
		if err != nil {
			return fmt.Errorf("P7 without a snapshot: %w", err)
		}
		d1, err := c.recoverJournal(ctx, topic, snapped, int64(n), 0)
		if err != nil {
			return fmt.Errorf("P7 with a snapshot: %w", err)
		}
		e.log.Printf("P7: round %d: recover without a snapshot %s, with %s", i, d0, d1)
		if i > 0 {
			without = append(without, ms(d0))
			with = append(with, ms(d1))
		}
	}
	rw := r.add(sc, fmt.Sprintf("recover() of a %d-event journal, no snapshot", n), "ms", without, 1)
	r.Summary["recover_ms_without_snapshot"] = round(rw.Value.Median, 1)
	rw = r.add(sc, fmt.Sprintf("recover() of a %d-event journal, snapshot at its last seq_nr", n), "ms", with, 1)
	r.Summary["recover_ms_with_snapshot"] = round(rw.Value.Median, 1)
	r.note("P7: recover() = load_snapshot then read from the snapshot's seq_nr + 1, through one socket connection (Go client, credit 256); journals of %d events of %d bytes in appends of 1000, replicated to Cassandra; the snapshot is a ~0.5 KB JSON value.",
		n, e.sz.payloadBytes)
	return nil
}

// recoverJournal does what a client's recover() does and checks what it got: the snapshot at
// wantSnapshot (0: none), then the events after it, wantEvents of them.
func (c *sockClient) recoverJournal(ctx context.Context, topic, journalID string, wantSnapshot, wantEvents int64) (time.Duration, error) {
	start := time.Now()
	rep, err := c.Do(ctx, &protocol.LoadSnapshotRequest{Journal: journalID, Topic: topic, SnapshotCriteria: protocol.NewSnapshotCriteria()})
	if err != nil {
		return 0, err
	}
	lr, ok := rep.(*protocol.LoadSnapshotReply)
	if !ok {
		return 0, fmt.Errorf("load_snapshot: unexpected reply %T", rep)
	}
	from := int64(1)
	if lr.Snapshot != nil {
		from = lr.Snapshot.SeqNr + 1
	}
	if got := from - 1; got != wantSnapshot {
		return 0, fmt.Errorf("snapshot at %d, want %d", got, wantSnapshot)
	}
	const credit = 256
	id, ch, err := c.Send(&protocol.ReadRequest{Journal: journalID, Topic: topic, From: from, Credit: credit}, credit+2)
	if err != nil {
		return 0, err
	}
	var events, unacked int64
	for {
		rep, err := sockclient.Await(ctx, ch)
		if err != nil {
			return 0, err
		}
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			events += int64(len(r.Events))
			unacked += int64(len(r.Events))
			if unacked >= credit/2 {
				if _, _, err := c.Send(&protocol.CreditRequest{ID: id, N: uint32(unacked)}, 0); err != nil {
					return 0, err
				}
				unacked = 0
			}
		case *protocol.ReadEnd:
			if events != wantEvents {
				return 0, fmt.Errorf("read %d events after the snapshot, want %d", events, wantEvents)
			}
			return time.Since(start), nil
		default:
			return 0, fmt.Errorf("read: unexpected reply %T", rep)
		}
	}
}
