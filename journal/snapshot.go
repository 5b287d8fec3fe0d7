package journal

import (
	"context"
	"encoding/json"
	"errors"
	"math"
)

// ErrSnapshotsUnavailable: the snapshot store cannot serve at all (its table is missing, or the
// store's role may not use it); retrying does not help until an operator acts.
var ErrSnapshotsUnavailable = errors.New("journal: snapshots unavailable")

// Snapshot is a stored snapshot of a journal's state: what an application saved after applying the
// events up to SeqNr, so that a recovery loads it and reads only the events after it.
type Snapshot struct {
	// SeqNr is the seqNr of the last event the snapshot reflects.
	SeqNr SeqNr
	// Timestamp is the snapshot's time in milliseconds since the Unix epoch.
	Timestamp int64
	// Payload is the state; the zero Payload means none.
	Payload Payload
	// Metadata is arbitrary JSON stored with the snapshot; nil means none.
	Metadata json.RawMessage
	// Origin and Version say who wrote the snapshot; "" when unknown.
	Origin  string
	Version string
}

// SnapshotCriteria selects the snapshots with SeqNr in [MinSeqNr, MaxSeqNr] and Timestamp in
// [MinTimestamp, MaxTimestamp] (Akka's SnapshotSelectionCriteria). AllSnapshots selects every one.
type SnapshotCriteria struct {
	MinSeqNr, MaxSeqNr         SeqNr // 0..MaxSeqNr
	MinTimestamp, MaxTimestamp int64 // milliseconds since the epoch
}

// AllSnapshots returns the criteria that select every snapshot.
func AllSnapshots() SnapshotCriteria {
	return SnapshotCriteria{MaxSeqNr: MaxSeqNr, MinTimestamp: math.MinInt64, MaxTimestamp: math.MaxInt64}
}

// Matches reports whether c selects s.
func (c SnapshotCriteria) Matches(s Snapshot) bool {
	return s.SeqNr >= c.MinSeqNr && s.SeqNr <= c.MaxSeqNr && s.Timestamp >= c.MinTimestamp && s.Timestamp <= c.MaxTimestamp
}

// SnapshotStore keeps journals' snapshots. journal/cassandra implements it.
type SnapshotStore interface {
	// SaveSnapshot stores s, replacing a snapshot of the journal with the same SeqNr.
	SaveSnapshot(ctx context.Context, key Key, s Snapshot) error
	// LoadSnapshot returns the journal's snapshot with the highest SeqNr that c selects; ok is false
	// when none.
	LoadSnapshot(ctx context.Context, key Key, c SnapshotCriteria) (s Snapshot, ok bool, err error)
	// DeleteSnapshots deletes the journal's snapshots that c selects and returns how many.
	DeleteSnapshots(ctx context.Context, key Key, c SnapshotCriteria) (int, error)
}
