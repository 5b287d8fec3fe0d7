package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
)

// Head is a journal's metajournal row (the original's JournalHead): where the replicator is in
// the journal, how the journal is laid out, and its expiry.
type Head struct {
	// PartitionOffset is the Kafka position of the last action applied to the journal.
	PartitionOffset journal.PartitionOffset
	// SegmentSize is the journal's segment size (DefaultSegmentSize for invalid stored values, as
	// the original decodes them).
	SegmentSize int
	// SeqNr is the journal's last seqNr.
	SeqNr journal.SeqNr
	// DeleteTo is the highest deleted seqNr; 0 when nothing was deleted.
	DeleteTo journal.SeqNr
	// Expiry is set when the journal's appends asked for one; nil otherwise.
	Expiry *Expiry
	// RecordID identifies this incarnation of the row (a purge and a new append make a new one);
	// nil for rows created by a Delete, or by versions of the original before record_id existed.
	RecordID *RecordID
	// Segment is the metajournal segment the row is in: MetaJournalSegment(id, Segments), or the
	// legacy MetaJournalSegment(id, LegacySegments).
	Segment int64
	// Updated is the replicator's clock when the row last changed (column updated); zero when
	// the column is null. Writes ignore it.
	Updated time.Time
}

// Expiry is when a journal expires: After is the expire_after duration the last append asked
// for, On the expire_on date, date(append time + After) in UTC.
type Expiry struct {
	After time.Duration
	On    time.Time // midnight UTC of the date
}

// RecordID is a metajournal record_id (a random UUID), copied into meta_record_id of every
// journal row written while that metajournal row lives.
type RecordID [16]byte

// String formats the UUID in its canonical form.
func (r RecordID) String() string { return gocql.UUID(r).String() }

// expiryOf returns the Expiry an append at timestamp with expireAfter asks for (0: none).
func expiryOf(expireAfter time.Duration, timestamp time.Time) *Expiry {
	if expireAfter <= 0 {
		return nil
	}
	return &Expiry{After: expireAfter, On: utcDate(timestamp.Add(expireAfter))}
}

// utcDate is the CQL date of t in UTC.
func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// durationCQL encodes d as the original's FiniteDurationHelper does: months 0, whole days, and
// the remaining nanoseconds.
func durationCQL(d time.Duration) gocql.Duration {
	const day = 24 * time.Hour
	return gocql.Duration{Days: int32(d / day), Nanoseconds: int64(d % day)}
}

// durationFromCQL decodes a CQL duration as the original does (months are ignored).
func durationFromCQL(d gocql.Duration) time.Duration {
	return time.Duration(d.Days)*24*time.Hour + time.Duration(d.Nanoseconds)
}

func dateCQL(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Head returns the journal's metajournal row, looked up in its segment and, when absent there, in
// its legacy segment (both queried at once). ok is false when the journal has no row.
func (st *Store) Head(ctx context.Context, key journal.Key) (h Head, ok bool, err error) {
	return st.head(ctx, key, true)
}

// head looks the journal's row up in its segment and, when absent there, in its legacy segment: at
// the same time when parallel, else only after the first lookup found nothing (one query for every
// journal the replicator wrote since the segments changed, at the cost of a round trip for the rest).
func (st *Store) head(ctx context.Context, key journal.Key, parallel bool) (h Head, ok bool, err error) {
	if st.closed.Load() {
		return Head{}, false, ErrClosed
	}
	first := MetaJournalSegment(key.ID, Segments)
	second := MetaJournalSegment(key.ID, LegacySegments)
	if first == second || !parallel {
		h, ok, err = st.selectHead(ctx, key, first)
		if err == nil && !ok && first != second {
			h, ok, err = st.selectHead(ctx, key, second)
		}
	} else {
		type result struct {
			h   Head
			ok  bool
			err error
		}
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		legacy := make(chan result, 1)
		go func() {
			var r result
			r.h, r.ok, r.err = st.selectHead(ctx2, key, second)
			legacy <- r
		}()
		h, ok, err = st.selectHead(ctx, key, first)
		if err == nil && !ok {
			r := <-legacy
			h, ok, err = r.h, r.ok, r.err
		}
	}
	if err != nil {
		return Head{}, false, wrapErr(fmt.Sprintf("read head of %s", key), err)
	}
	return h, ok, nil
}

func (st *Store) selectHead(ctx context.Context, key journal.Key, segment int64) (Head, bool, error) {
	var (
		partition   int32
		offset      int64
		segmentSize int
		seqNr       int64
		deleteTo    *int64
		expireAfter *gocql.Duration
		expireOn    *time.Time
		recordID    *gocql.UUID
		updated     *time.Time
	)
	err := st.s.Query(`
SELECT partition, offset, segment_size, seq_nr, delete_to, expire_after, expire_on, record_id, updated FROM `+st.metaJournal+`
WHERE id = ?
AND topic = ?
AND segment = ?
`, key.ID, key.Topic, segment).WithContext(ctx).Consistency(st.cfg.ReadConsistency).
		Scan(&partition, &offset, &segmentSize, &seqNr, &deleteTo, &expireAfter, &expireOn, &recordID, &updated)
	if errors.Is(err, gocql.ErrNotFound) {
		return Head{}, false, nil
	}
	if err != nil {
		return Head{}, false, err
	}
	h := Head{
		PartitionOffset: journal.PartitionOffset{Partition: partition, Offset: offset},
		SegmentSize:     segmentSize,
		SeqNr:           journal.SeqNr(seqNr),
		Segment:         segment,
	}
	if h.SegmentSize < MinSegmentSize {
		h.SegmentSize = DefaultSegmentSize
	}
	if deleteTo != nil {
		h.DeleteTo = journal.SeqNr(*deleteTo)
	}
	if expireAfter != nil && expireOn != nil && !expireOn.IsZero() {
		h.Expiry = &Expiry{After: durationFromCQL(*expireAfter), On: utcDate(*expireOn)}
	}
	if recordID != nil {
		r := RecordID(*recordID)
		h.RecordID = &r
	}
	if updated != nil {
		h.Updated = updated.UTC()
	}
	return h, true, nil
}
