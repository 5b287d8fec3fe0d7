package sidecar

import (
	"fmt"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// errNoSnapshots answers the snapshot ops of a sidecar configured without a snapshot store.
var errNoSnapshots = protocol.NewError(0, protocol.CodeSnapshotsUnavailable, "this sidecar has no snapshot store")

// handleSaveSnapshot stores a snapshot and answers its timestamp.
func (c *conn) handleSaveSnapshot(r *protocol.SaveSnapshotRequest) protocol.Reply {
	key, perr := c.snapshotKey(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	p, err := payloadOf(r.PayloadType, r.Payload)
	if err != nil {
		return protocol.NewError(r.ID, protocol.CodeInvalidArgument, "payload: %v", err)
	}
	meta, err := rawJSON(r.Metadata)
	if err != nil {
		return protocol.NewError(r.ID, protocol.CodeInvalidArgument, "metadata: %v", err)
	}
	s := journal.Snapshot{SeqNr: journal.SeqNr(r.SeqNr), Timestamp: r.Timestamp, Payload: p, Metadata: meta,
		Origin: c.s.origin, Version: journal.Version}
	if !r.HasTimestamp {
		s.Timestamp = time.Now().UnixMilli()
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	if err := c.s.cfg.Snapshots.SaveSnapshot(ctx, key, s); err != nil {
		return wireError(ctx, r.ID, err)
	}
	return &protocol.SaveSnapshotReply{ID: r.ID, Timestamp: s.Timestamp}
}

// handleLoadSnapshot answers the latest snapshot matching the criteria, or nil.
func (c *conn) handleLoadSnapshot(r *protocol.LoadSnapshotRequest) protocol.Reply {
	key, perr := c.snapshotKey(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	s, ok, err := c.s.cfg.Snapshots.LoadSnapshot(ctx, key, criteriaOf(r.SnapshotCriteria))
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	rep := &protocol.LoadSnapshotReply{ID: r.ID}
	if ok {
		if rep.Snapshot, err = snapshotRecordOf(s); err != nil {
			return wireError(ctx, r.ID, err)
		}
	}
	return rep
}

// handleDeleteSnapshots deletes the snapshots matching the criteria (and seq_nr, when given).
func (c *conn) handleDeleteSnapshots(r *protocol.DeleteSnapshotsRequest) protocol.Reply {
	key, perr := c.snapshotKey(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	crit := criteriaOf(r.SnapshotCriteria)
	if r.HasSeqNr {
		crit.MinSeqNr = max(crit.MinSeqNr, journal.SeqNr(r.SeqNr))
		crit.MaxSeqNr = min(crit.MaxSeqNr, journal.SeqNr(r.SeqNr))
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	n, err := c.s.cfg.Snapshots.DeleteSnapshots(ctx, key, crit)
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	return &protocol.DeleteSnapshotsReply{ID: r.ID, Deleted: int64(n)}
}

// snapshotKey is c.key, failing with SNAPSHOTS_UNAVAILABLE when there is no snapshot store.
func (c *conn) snapshotKey(id uint64, journalID, topic string) (journal.Key, *protocol.Error) {
	if c.s.cfg.Snapshots == nil {
		return journal.Key{}, errNoSnapshots.WithID(id)
	}
	return c.key(id, journalID, topic)
}

func criteriaOf(c protocol.SnapshotCriteria) journal.SnapshotCriteria {
	return journal.SnapshotCriteria{
		MinSeqNr: journal.SeqNr(c.MinSeqNr), MaxSeqNr: journal.SeqNr(c.MaxSeqNr),
		MinTimestamp: c.MinTimestamp, MaxTimestamp: c.MaxTimestamp,
	}
}

// snapshotRecordOf turns a stored snapshot into its wire form; stored JSON that does not parse is
// a data integrity error.
func snapshotRecordOf(s journal.Snapshot) (*protocol.SnapshotRecord, error) {
	r := &protocol.SnapshotRecord{SeqNr: int64(s.SeqNr), Timestamp: s.Timestamp, Origin: s.Origin, Version: s.Version}
	var err error
	if r.PayloadType, r.Payload, err = wirePayload(s.Payload); err != nil {
		return nil, fmt.Errorf("%w: snapshot %d: %v", journal.ErrDataIntegrity, s.SeqNr, err)
	}
	if r.Metadata, err = valueOf(s.Metadata); err != nil {
		return nil, fmt.Errorf("%w: snapshot %d: metadata: %v", journal.ErrDataIntegrity, s.SeqNr, err)
	}
	return r, nil
}
