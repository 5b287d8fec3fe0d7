package cassandra

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
)

// The write side, for the replicator: the original's ReplicatedCassandra, statement for
// statement. Append, Delete and Purge read the journal's head first; AppendKnown, DeleteKnown and
// PurgeKnown take it from the caller (the replicator's head cache) and hand back the head they
// wrote. Each applies the original's per-journal offset guard and reports whether it changed
// anything.

// Known is a journal's metajournal row as a writer knows it: Head, or Found false when the
// journal has none. The *Known methods start from it instead of reading the row, and on success
// leave in it the row they wrote; after an error it is unknown (the write may or may not have
// happened) and must be read again.
type Known struct {
	Head  Head
	Found bool
}

// known reads the journal's head.
func (st *Store) known(ctx context.Context, key journal.Key) (Known, error) {
	h, found, err := st.Head(ctx, key)
	return Known{Head: h, Found: found}, err
}

const (
	// maxBatchRows and maxBatchBytes split the inserts of one segment into several unlogged
	// batches, so that a huge append stays under Cassandra's mutation and frame size limits.
	// Single-partition batches are atomic without the batch log and not subject to
	// batch_size_fail_threshold.
	maxBatchRows  = 1000
	maxBatchBytes = 4 << 20
	// deleteParallelism bounds the concurrent partition deletions of a Delete or Purge.
	deleteParallelism = 8
)

// Append stores events (the original's ReplicatedKeyJournal.append). partitionOffset is the
// position of the newest Append action in the batch, timestamp the replicator's clock for this
// round, expireAfter the batch's expire-after (0: none). events are in seqNr order, each with the
// partition offset of the Kafka record that carried it.
//
// When the journal's head already has an offset >= partitionOffset.Offset nothing happens and
// changed is false. Otherwise the events newer than the head's offset are inserted (grouped by
// journal segment, one logged batch per group), then the head is written: a new journal gets a
// metajournal row with a fresh record_id, delete_to = first seqNr - 1 and, with expireAfter,
// expire_on = date(timestamp + expireAfter) in UTC; an existing one gets partition, offset, seq_nr
// and updated set, and its expiry updated, kept or removed as the original's ExpiryService decides.
func (st *Store) Append(ctx context.Context, key journal.Key, partitionOffset journal.PartitionOffset, timestamp time.Time,
	expireAfter time.Duration, events []journal.EventRecord) (changed bool, err error) {
	if err := st.checkAppend(key, expireAfter, events); err != nil {
		return false, err
	}
	k, err := st.known(ctx, key)
	if err != nil {
		return false, err
	}
	return st.AppendKnown(ctx, key, &k, partitionOffset, timestamp, expireAfter, events)
}

func (st *Store) checkAppend(key journal.Key, expireAfter time.Duration, events []journal.EventRecord) error {
	if st.closed.Load() {
		return ErrClosed
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: append to %s without events", ErrInvalidArgument, key)
	}
	if expireAfter < 0 {
		return fmt.Errorf("%w: append to %s with expireAfter %v", ErrInvalidArgument, key, expireAfter)
	}
	for _, e := range events {
		if err := e.SeqNr.Validate(); err != nil {
			return fmt.Errorf("%w: append to %s: %w", ErrInvalidArgument, key, err)
		}
	}
	return nil
}

// AppendKnown is Append starting from the journal's head as k holds it; on success k holds the
// head written (unchanged when nothing was).
func (st *Store) AppendKnown(ctx context.Context, key journal.Key, k *Known, partitionOffset journal.PartitionOffset, timestamp time.Time,
	expireAfter time.Duration, events []journal.EventRecord) (changed bool, err error) {
	if err := st.checkAppend(key, expireAfter, events); err != nil {
		return false, err
	}
	head, found := k.Head, k.Found
	if found && partitionOffset.Offset <= head.PartitionOffset.Offset {
		return false, nil
	}
	first, last := events[0].SeqNr, events[len(events)-1].SeqNr
	mj := st.metaJournalRow(key, head, found)

	var save func(context.Context) error
	var head1 Head
	if !found {
		rid, err := gocql.RandomUUID()
		if err != nil {
			return false, fmt.Errorf("append to %s: record id: %w", key, err)
		}
		recordID := RecordID(rid)
		head1 = Head{
			PartitionOffset: partitionOffset,
			SegmentSize:     st.cfg.SegmentSize,
			SeqNr:           last,
			Expiry:          expiryOf(expireAfter, timestamp),
			RecordID:        &recordID,
			Segment:         mj.segment,
		}
		if prev, ok := first.Prev(); ok {
			head1.DeleteTo = prev
		}
		origin := events[0].Origin
		save = func(ctx context.Context) error { return mj.insert(ctx, timestamp, head1, origin) }
	} else {
		head1 = head
		head1.PartitionOffset, head1.SeqNr = partitionOffset, last
		want := expiryOf(expireAfter, timestamp)
		switch {
		case want != nil && !sameExpiry(head.Expiry, want):
			head1.Expiry = want
			save = func(ctx context.Context) error { return mj.updateExpiry(ctx, partitionOffset, timestamp, last, *want) }
		case want == nil && head.Expiry != nil:
			head1.Expiry = nil
			save = func(ctx context.Context) error {
				if err := mj.updateSeqNr(ctx, partitionOffset, timestamp, last); err != nil {
					return err
				}
				return mj.deleteExpiry(ctx)
			}
		default:
			save = func(ctx context.Context) error { return mj.updateSeqNr(ctx, partitionOffset, timestamp, last) }
		}
	}

	// Only events newer than the head's offset, and never a second row for a seqNr: the clustering
	// key holds the timestamp too, so an Append that overlaps an earlier one (a client's retry after
	// a timeout, say) would add one, and every later read of the journal from Cassandra would fail
	// on it. A read of the Kafka records keeps the first event of a seqNr (journal.Stream), so the
	// rows are what that read returns. Events at or below the head's seqNr are the only ones that
	// can have a row (seqNrs above it were never written); whether they do is asked only for them,
	// which Akka-style appends never need. The original inserts both rows.
	toInsert := make([]journal.EventRecord, 0, len(events))
	var below []journal.EventRecord // at or below the head's seqNr: inserted only without a row
	seen := make(map[journal.SeqNr]bool, len(events))
	for _, e := range events {
		if found && e.Offset <= head.PartitionOffset.Offset || seen[e.SeqNr] {
			continue
		}
		seen[e.SeqNr] = true
		if found && e.SeqNr <= head.SeqNr {
			below = append(below, e)
			continue
		}
		toInsert = append(toInsert, e)
	}
	if len(below) > 0 {
		have, err := st.rowsExist(ctx, key, head.SegmentSize, below)
		if err != nil {
			return false, err
		}
		for _, e := range below {
			if !have[e.SeqNr] {
				toInsert = append(toInsert, e)
			}
		}
		slices.SortFunc(toInsert, func(a, b journal.EventRecord) int { return cmp.Compare(a.SeqNr, b.SeqNr) })
	}
	// Rows first, head last: a reader that sees the new head finds the rows it announces.
	for start := 0; start < len(toInsert); {
		segment := JournalSegment(toInsert[start].SeqNr, head1.SegmentSize)
		end := start + 1
		for end < len(toInsert) && JournalSegment(toInsert[end].SeqNr, head1.SegmentSize) == segment {
			end++
		}
		if err := st.insertRecords(ctx, key, segment, head1.RecordID, toInsert[start:end]); err != nil {
			return false, err
		}
		start = end
	}
	if err := save(ctx); err != nil {
		return false, wrapErr(fmt.Sprintf("append to %s: write head", key), err)
	}
	*k = Known{Head: head1, Found: true}
	return true, nil
}

func sameExpiry(a, b *Expiry) bool {
	return a != nil && b != nil && a.After == b.After && a.On.Equal(b.On)
}

// Delete applies a Delete action (the original's ReplicatedKeyJournal.delete): deleteTo as the
// action carries it, origin the action's origin.
//
// Without a head it creates one with seq_nr = delete_to = deleteTo, no record_id and no expiry
// (a journal may start with a Delete). With a head whose offset is below partitionOffset.Offset,
// it sets delete_to to min(deleteTo, max(seq_nr, delete_to)), raises seq_nr to the old delete_to
// when that was higher, choosing the narrowest of the original's UPDATE statements, and then
// deletes the rows in (old delete_to, min(deleteTo, seq_nr)]: whole segment partitions, and a
// range deletion in the last segment when it is only partly deleted; the rows go before the head
// changes, unlike the original, so that a Delete interrupted by a crash is redone by its replay.
// Otherwise nothing happens.
func (st *Store) Delete(ctx context.Context, key journal.Key, partitionOffset journal.PartitionOffset, timestamp time.Time,
	deleteTo journal.SeqNr, origin string) (changed bool, err error) {
	if err := st.checkDelete(key, deleteTo); err != nil {
		return false, err
	}
	k, err := st.known(ctx, key)
	if err != nil {
		return false, err
	}
	return st.DeleteKnown(ctx, key, &k, partitionOffset, timestamp, deleteTo, origin)
}

func (st *Store) checkDelete(key journal.Key, deleteTo journal.SeqNr) error {
	if st.closed.Load() {
		return ErrClosed
	}
	if err := deleteTo.Validate(); err != nil {
		return fmt.Errorf("%w: delete %s: %w", ErrInvalidArgument, key, err)
	}
	return nil
}

// DeleteKnown is Delete starting from the journal's head as k holds it; on success k holds the
// head written (unchanged when nothing was).
func (st *Store) DeleteKnown(ctx context.Context, key journal.Key, k *Known, partitionOffset journal.PartitionOffset, timestamp time.Time,
	deleteTo journal.SeqNr, origin string) (changed bool, err error) {
	if err := st.checkDelete(key, deleteTo); err != nil {
		return false, err
	}
	head, found := k.Head, k.Found
	mj := st.metaJournalRow(key, head, found)
	if !found {
		h := Head{PartitionOffset: partitionOffset, SegmentSize: st.cfg.SegmentSize, SeqNr: deleteTo, DeleteTo: deleteTo, Segment: mj.segment}
		if err := mj.insert(ctx, timestamp, h, origin); err != nil {
			return false, wrapErr(fmt.Sprintf("delete %s: write head", key), err)
		}
		*k = Known{Head: h, Found: true}
		return true, nil
	}
	if partitionOffset.Offset <= head.PartitionOffset.Offset {
		return false, nil
	}
	seqNr := head.SeqNr
	seqNr1 := max(seqNr, head.DeleteTo)
	deleteTo1 := min(deleteTo, seqNr1)

	// Rows first, head last (the original updates the head first): a crash in between then leaves
	// the head as it was, so the replayed Delete runs again and deletes the rows. The other way
	// round, the replay finds the head at the Delete's offset, does nothing, and the rows stay
	// under delete_to for good. Reads return the same either way: the events after the new
	// delete_to.
	from, ok := head.DeleteTo.Next()
	if head.DeleteTo == 0 {
		from, ok = journal.MinSeqNr, true
	}
	to := min(deleteTo, seqNr)
	if ok && from <= to {
		size := head.SegmentSize
		firstSeg, lastSeg := JournalSegment(from, size), JournalSegment(to, size)
		err = st.forSegments(ctx, firstSeg, lastSeg, func(ctx context.Context, segment int64) error {
			if to < seqNr && segment == lastSeg {
				return st.deleteRecordsTo(ctx, key, segment, to)
			}
			return st.deleteRecords(ctx, key, segment)
		})
		if err != nil {
			return false, wrapErr(fmt.Sprintf("delete %s: delete rows", key), err)
		}
	}

	switch {
	case seqNr1 == seqNr && head.DeleteTo == deleteTo1:
		err = mj.updatePartitionOffset(ctx, partitionOffset, timestamp)
	case seqNr1 == seqNr:
		err = mj.updateDeleteTo(ctx, partitionOffset, timestamp, deleteTo1)
	case head.DeleteTo == deleteTo1:
		err = mj.updateSeqNr(ctx, partitionOffset, timestamp, seqNr1)
	default:
		err = mj.update(ctx, partitionOffset, timestamp, seqNr1, deleteTo1)
	}
	if err != nil {
		return false, wrapErr(fmt.Sprintf("delete %s: write head", key), err)
	}
	head.PartitionOffset, head.SeqNr, head.DeleteTo = partitionOffset, seqNr1, deleteTo1
	*k = Known{Head: head, Found: true}
	return true, nil
}

// Purge applies a Purge action (the original's ReplicatedKeyJournal.purge): with a head whose
// offset is at most partitionOffset.Offset, it first marks everything deleted in the head (with
// the head's own partition offset), then deletes the journal partitions of the segments from one
// before the first possibly stored seqNr to one after the last (the original's deliberate under-
// and overshoot), then the metajournal row. Without a head, or with a newer head, nothing happens.
func (st *Store) Purge(ctx context.Context, key journal.Key, partitionOffset journal.PartitionOffset, timestamp time.Time) (changed bool, err error) {
	if st.closed.Load() {
		return false, ErrClosed
	}
	k, err := st.known(ctx, key)
	if err != nil {
		return false, err
	}
	return st.PurgeKnown(ctx, key, &k, partitionOffset, timestamp)
}

// PurgeKnown is Purge starting from the journal's head as k holds it; on success k holds no head
// (unchanged when nothing was purged).
func (st *Store) PurgeKnown(ctx context.Context, key journal.Key, k *Known, partitionOffset journal.PartitionOffset, timestamp time.Time) (changed bool, err error) {
	if st.closed.Load() {
		return false, ErrClosed
	}
	head, found := k.Head, k.Found
	if !found || partitionOffset.Offset < head.PartitionOffset.Offset {
		return false, nil
	}
	mj := st.metaJournalRow(key, head, found)
	old := head.PartitionOffset
	var from, to journal.SeqNr
	switch seqNr := head.SeqNr; {
	case head.DeleteTo == 0:
		err = mj.updateDeleteTo(ctx, old, timestamp, seqNr)
		from, to = journal.MinSeqNr, seqNr
	case head.DeleteTo < seqNr:
		err = mj.updateDeleteTo(ctx, old, timestamp, seqNr)
		from, to = head.DeleteTo, seqNr
	case head.DeleteTo == seqNr:
		from, to = seqNr, seqNr
	default:
		err = mj.updateSeqNr(ctx, old, timestamp, head.DeleteTo)
		from, to = seqNr, head.DeleteTo
	}
	if err != nil {
		return false, wrapErr(fmt.Sprintf("purge %s: write head", key), err)
	}
	size := head.SegmentSize
	firstSeg := max(JournalSegment(from, size)-1, 0)
	lastSeg := JournalSegment(to, size)
	if lastSeg < JournalSegment(journal.MaxSeqNr, size) {
		lastSeg++
	}
	err = st.forSegments(ctx, firstSeg, lastSeg, func(ctx context.Context, segment int64) error {
		return st.deleteRecords(ctx, key, segment)
	})
	if err != nil {
		return false, wrapErr(fmt.Sprintf("purge %s: delete rows", key), err)
	}
	if err := mj.delete(ctx); err != nil {
		return false, wrapErr(fmt.Sprintf("purge %s: delete head", key), err)
	}
	*k = Known{}
	return true, nil
}

// SavePointer2 records that every action of topic/partition up to offset is in Cassandra: an
// INSERT with created = updated = timestamp when the partition has no pointer2 row yet, else an
// UPDATE of offset and updated (the original's offsets.create / offsets.update).
func (st *Store) SavePointer2(ctx context.Context, topic string, partition int32, offset int64, timestamp time.Time) error {
	if st.closed.Load() {
		return ErrClosed
	}
	var created time.Time
	err := st.s.Query(`
SELECT created FROM `+st.pointer2+`
WHERE topic = ?
AND partition = ?
`, topic, partition).WithContext(ctx).Consistency(st.cfg.ReadConsistency).Scan(&created)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		err = st.s.Query(`
INSERT INTO `+st.pointer2+` (topic, partition, offset, created, updated)
VALUES (?, ?, ?, ?, ?)
`, topic, partition, offset, timestamp, timestamp).WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
	case err == nil:
		return st.UpdatePointer2(ctx, topic, partition, offset, timestamp)
	}
	return wrapErr(fmt.Sprintf("save pointer2 %s/%d = %d", topic, partition, offset), err)
}

// UpdatePointer2 is SavePointer2 for a partition known to have a pointer2 row (its Offset was
// found, or SavePointer2 wrote it): one UPDATE of offset and updated, without reading the row.
func (st *Store) UpdatePointer2(ctx context.Context, topic string, partition int32, offset int64, timestamp time.Time) error {
	if st.closed.Load() {
		return ErrClosed
	}
	err := st.s.Query(`
UPDATE `+st.pointer2+`
SET offset = ?, updated = ?
WHERE topic = ?
AND partition = ?
`, offset, timestamp, topic, partition).WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
	return wrapErr(fmt.Sprintf("save pointer2 %s/%d = %d", topic, partition, offset), err)
}

// rowsExist reports which of the seqNrs of events have a row already, one query per segment.
func (st *Store) rowsExist(ctx context.Context, key journal.Key, segmentSize int, events []journal.EventRecord) (map[journal.SeqNr]bool, error) {
	bySegment := map[int64][2]journal.SeqNr{} // segment → lowest and highest seqNr asked
	for _, e := range events {
		seg := JournalSegment(e.SeqNr, segmentSize)
		r, ok := bySegment[seg]
		if !ok {
			r = [2]journal.SeqNr{e.SeqNr, e.SeqNr}
		}
		bySegment[seg] = [2]journal.SeqNr{min(r[0], e.SeqNr), max(r[1], e.SeqNr)}
	}
	have := map[journal.SeqNr]bool{}
	for seg, r := range bySegment {
		it := st.s.Query(`SELECT seq_nr FROM `+st.journal+` WHERE id = ? AND topic = ? AND segment = ? AND seq_nr >= ? AND seq_nr <= ?`,
			key.ID, key.Topic, seg, int64(r[0]), int64(r[1])).WithContext(ctx).Consistency(st.cfg.ReadConsistency).Iter()
		var seqNr int64
		for it.Scan(&seqNr) {
			have[journal.SeqNr(seqNr)] = true
		}
		if err := it.Close(); err != nil {
			return nil, wrapErr(fmt.Sprintf("append to %s: rows of segment %d", key, seg), err)
		}
	}
	return have, nil
}

// insertRecords inserts the rows of one journal segment (one partition), one INSERT or unlogged
// batches.
func (st *Store) insertRecords(ctx context.Context, key journal.Key, segment int64, recordID *RecordID, events []journal.EventRecord) error {
	stmt := `
INSERT INTO ` + st.journal + ` (
id,
topic,
segment,
seq_nr,
partition,
offset,
timestamp,
origin,
version,
meta_record_id,
tags,
payload_type,
payload_txt,
payload_bin,
metadata,
headers)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
`
	var metaRecordID any = gocql.UnsetValue
	if recordID != nil {
		metaRecordID = gocql.UUID(*recordID)
	}
	args := func(e journal.EventRecord) ([]any, int, error) {
		md, err := encodeRecordMetadata(e.Metadata)
		if err != nil {
			return nil, 0, fmt.Errorf("seqNr %d: %w", e.SeqNr, err)
		}
		payloadType, txt, bin, err := payloadColumns(e.Payload)
		if err != nil {
			return nil, 0, fmt.Errorf("seqNr %d: %w", e.SeqNr, err)
		}
		var tags []string
		if len(e.Tags) > 0 {
			tags = e.Tags
		}
		var headers map[string]string
		if len(e.Headers) > 0 {
			headers = e.Headers
		}
		size := len(md) + len(e.Payload.Data) + 256
		for _, t := range e.Tags {
			size += len(t)
		}
		for k, v := range e.Headers {
			size += len(k) + len(v)
		}
		return []any{key.ID, key.Topic, segment, int64(e.SeqNr), e.Partition, e.Offset, e.Timestamp,
			optional(e.Origin), optional(e.Version), metaRecordID, tags, payloadType, txt, bin, md, headers}, size, nil
	}
	op := func() string {
		return fmt.Sprintf("append to %s: insert seqNr %d..%d", key, events[0].SeqNr, events[len(events)-1].SeqNr)
	}
	if len(events) == 1 {
		a, _, err := args(events[0])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidArgument, op(), err)
		}
		return wrapErr(op(), st.s.Query(stmt, a...).WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec())
	}
	for start := 0; start < len(events); {
		b := st.s.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		b.SetConsistency(st.cfg.WriteConsistency)
		bytes := 0
		end := start
		for end < len(events) && end-start < maxBatchRows && (end == start || bytes < maxBatchBytes) {
			a, size, err := args(events[end])
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrInvalidArgument, op(), err)
			}
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: stmt, Args: a, Idempotent: true})
			bytes += size
			end++
		}
		if err := st.s.ExecuteBatch(b); err != nil {
			return wrapErr(op(), err)
		}
		start = end
	}
	return nil
}

// payloadColumns maps a payload to payload_type, payload_txt and payload_bin as the original's
// EventualPayloadAndType: text and JSON (compacted) as text, binary as bytes; no payload leaves
// all three unset.
func payloadColumns(p journal.Payload) (payloadType, txt, bin any, err error) {
	unset := gocql.UnsetValue
	switch p.Type {
	case "":
		return unset, unset, unset, nil
	case journal.PayloadText:
		return string(p.Type), string(p.Data), unset, nil
	case journal.PayloadJSON:
		var b bytes.Buffer
		if err := json.Compact(&b, p.Data); err != nil {
			return nil, nil, nil, fmt.Errorf("json payload: %w", err)
		}
		return string(p.Type), b.String(), unset, nil
	case journal.PayloadBinary:
		data := p.Data
		if data == nil {
			data = []byte{}
		}
		return string(p.Type), unset, data, nil
	}
	return nil, nil, nil, fmt.Errorf("payload type %q: %w", p.Type, journal.ErrUnsupportedPayloadType)
}

// optional binds "" as unset, as the original leaves absent optional columns unbound.
func optional(s string) any {
	if s == "" {
		return gocql.UnsetValue
	}
	return s
}

func (st *Store) deleteRecords(ctx context.Context, key journal.Key, segment int64) error {
	return st.s.Query(`
DELETE FROM `+st.journal+`
WHERE id = ?
AND topic = ?
AND segment = ?
`, key.ID, key.Topic, segment).WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
}

func (st *Store) deleteRecordsTo(ctx context.Context, key journal.Key, segment int64, to journal.SeqNr) error {
	return st.s.Query(`
DELETE FROM `+st.journal+`
WHERE id = ?
AND topic = ?
AND segment = ?
AND seq_nr <= ?
`, key.ID, key.Topic, segment, int64(to)).WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
}

// forSegments runs fn for every segment in [first, last], deleteParallelism at a time, and
// returns the first error.
func (st *Store) forSegments(ctx context.Context, first, last int64, fn func(context.Context, int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	sem := make(chan struct{}, deleteParallelism)
	for segment := first; segment <= last && segment >= first; segment++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, segment); err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if ferr == nil {
		ferr = ctx.Err()
	}
	return ferr
}

// metaJournalRow addresses one journal's metajournal row: in the segment its head was found in,
// or, for a new row, in MetaJournalSegment(id, Segments).
type metaJournalRow struct {
	st      *Store
	key     journal.Key
	segment int64
}

func (st *Store) metaJournalRow(key journal.Key, head Head, found bool) metaJournalRow {
	segment := MetaJournalSegment(key.ID, Segments)
	if found {
		segment = head.Segment
	}
	return metaJournalRow{st: st, key: key, segment: segment}
}

func (m metaJournalRow) exec(ctx context.Context, stmt string, args ...any) error {
	return m.st.s.Query(stmt, args...).WithContext(ctx).Consistency(m.st.cfg.WriteConsistency).Exec()
}

func (m metaJournalRow) where() string {
	return `
WHERE id = ?
AND topic = ?
AND segment = ?
`
}

func (m metaJournalRow) insert(ctx context.Context, timestamp time.Time, h Head, origin string) error {
	var deleteTo, expireAfter, expireOn, recordID any = gocql.UnsetValue, gocql.UnsetValue, gocql.UnsetValue, gocql.UnsetValue
	if h.DeleteTo != 0 {
		deleteTo = int64(h.DeleteTo)
	}
	if h.Expiry != nil {
		expireAfter, expireOn = durationCQL(h.Expiry.After), dateCQL(h.Expiry.On)
	}
	if h.RecordID != nil {
		recordID = gocql.UUID(*h.RecordID)
	}
	return m.exec(ctx, `
INSERT INTO `+m.st.metaJournal+` (
topic,
segment,
id,
partition,
offset,
segment_size,
seq_nr,
delete_to,
created,
created_date,
updated,
expire_after,
expire_on,
record_id,
origin,
properties)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
`, m.key.Topic, m.segment, m.key.ID, h.PartitionOffset.Partition, h.PartitionOffset.Offset, h.SegmentSize,
		int64(h.SeqNr), deleteTo, timestamp, dateCQL(timestamp), timestamp, expireAfter, expireOn, recordID,
		optional(origin), gocql.UnsetValue)
}

func (m metaJournalRow) update(ctx context.Context, po journal.PartitionOffset, timestamp time.Time, seqNr, deleteTo journal.SeqNr) error {
	return m.exec(ctx, `
UPDATE `+m.st.metaJournal+`
SET partition = ?, offset = ?, seq_nr = ?, delete_to = ?, updated = ?`+m.where(),
		po.Partition, po.Offset, int64(seqNr), int64(deleteTo), timestamp, m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) updateSeqNr(ctx context.Context, po journal.PartitionOffset, timestamp time.Time, seqNr journal.SeqNr) error {
	return m.exec(ctx, `
UPDATE `+m.st.metaJournal+`
SET partition = ?, offset = ?, seq_nr = ?, updated = ?`+m.where(),
		po.Partition, po.Offset, int64(seqNr), timestamp, m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) updateExpiry(ctx context.Context, po journal.PartitionOffset, timestamp time.Time, seqNr journal.SeqNr, e Expiry) error {
	return m.exec(ctx, `
UPDATE `+m.st.metaJournal+`
SET partition = ?, offset = ?, seq_nr = ?, updated = ?, expire_after = ?, expire_on = ?`+m.where(),
		po.Partition, po.Offset, int64(seqNr), timestamp, durationCQL(e.After), dateCQL(e.On), m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) updateDeleteTo(ctx context.Context, po journal.PartitionOffset, timestamp time.Time, deleteTo journal.SeqNr) error {
	return m.exec(ctx, `
UPDATE `+m.st.metaJournal+`
SET partition = ?, offset = ?, delete_to = ?, updated = ?`+m.where(),
		po.Partition, po.Offset, int64(deleteTo), timestamp, m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) updatePartitionOffset(ctx context.Context, po journal.PartitionOffset, timestamp time.Time) error {
	return m.exec(ctx, `
UPDATE `+m.st.metaJournal+`
SET partition = ?, offset = ?, updated = ?`+m.where(),
		po.Partition, po.Offset, timestamp, m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) delete(ctx context.Context) error {
	return m.exec(ctx, `
DELETE FROM `+m.st.metaJournal+m.where(), m.key.ID, m.key.Topic, m.segment)
}

func (m metaJournalRow) deleteExpiry(ctx context.Context) error {
	return m.exec(ctx, `
DELETE expire_after, expire_on FROM `+m.st.metaJournal+m.where(), m.key.ID, m.key.Topic, m.segment)
}
