package cassandra

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
)

var _ journal.Eventual = (*Store)(nil)

// Pointer returns the journal's last seqNr in Cassandra (metajournal seq_nr), 0 when it has no
// row. It is the read side's view of the head; Head returns the whole row.
func (st *Store) Pointer(ctx context.Context, key journal.Key) (journal.SeqNr, error) {
	h, ok, err := st.Head(ctx, key)
	if err != nil || !ok {
		return 0, err
	}
	return h.SeqNr, nil
}

// JournalHead returns the journal's metajournal row for ReadHead (Layout holds the Head); the zero
// EventualHead when it has none. Unlike Head it queries the legacy segment only when the row is not in
// its segment: a recovery of many journals at once is bound by Cassandra's work, not its latency.
func (st *Store) JournalHead(ctx context.Context, key journal.Key) (journal.EventualHead, error) {
	h, ok, err := st.head(ctx, key, false)
	if err != nil || !ok {
		return journal.EventualHead{}, err
	}
	return journal.EventualHead{SeqNr: h.SeqNr, DeleteTo: h.DeleteTo, Layout: h}, nil
}

// Offset returns pointer2's offset for topic/partition: the highest Kafka offset whose actions
// are all in Cassandra. ok is false when nothing of the partition was replicated yet.
func (st *Store) Offset(ctx context.Context, topic string, partition int32) (offset int64, ok bool, err error) {
	if st.closed.Load() {
		return 0, false, ErrClosed
	}
	err = st.s.Query(`
SELECT offset FROM `+st.pointer2+`
WHERE topic = ?
AND partition = ?
`, topic, partition).WithContext(ctx).Consistency(st.cfg.ReadConsistency).Scan(&offset)
	if errors.Is(err, gocql.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrapErr(fmt.Sprintf("read pointer2 of %s/%d", topic, partition), err)
	}
	return offset, true, nil
}

// Topics lists the topics pointer2 has rows for (SELECT DISTINCT topic, partition), sorted.
func (st *Store) Topics(ctx context.Context) ([]string, error) {
	if st.closed.Load() {
		return nil, ErrClosed
	}
	iter := st.s.Query(`SELECT DISTINCT topic, partition FROM ` + st.pointer2).WithContext(ctx).
		Consistency(st.cfg.ReadConsistency).Iter()
	seen := map[string]bool{}
	var topics []string
	var topic string
	var partition int32
	for iter.Scan(&topic, &partition) {
		if !seen[topic] {
			seen[topic] = true
			topics = append(topics, topic)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, wrapErr("list pointer2 topics", err)
	}
	slices.Sort(topics)
	return topics, nil
}

// IDsExpiringOn yields the ids of the journals of topic whose expire_on is date (its UTC date),
// through the metajournal expire_on index, over all Segments metajournal segments (which include
// the legacy ones), querying idsParallelism segments at a time; ids come in no particular order.
// It is what a purge-expired job needs.
func (st *Store) IDsExpiringOn(ctx context.Context, topic string, date time.Time) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if st.closed.Load() {
			yield("", ErrClosed)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		type result struct {
			ids []string
			err error
		}
		segments := make(chan int64)
		results := make(chan result)
		var wg sync.WaitGroup
		for range idsParallelism {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for segment := range segments {
					var r result
					it := st.s.Query(`
SELECT id FROM `+st.metaJournal+`
WHERE topic = ?
AND segment = ?
AND expire_on = ?
`, topic, segment, dateCQL(date)).WithContext(ctx).Consistency(st.cfg.ReadConsistency).PageSize(st.cfg.PageSize).Iter()
					var id string
					for it.Scan(&id) {
						r.ids = append(r.ids, id)
					}
					if err := it.Close(); err != nil {
						r.err = wrapErr(fmt.Sprintf("list ids of %s expiring on %s", topic, dateCQL(date)), err)
					}
					select {
					case results <- r:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		go func() {
			defer close(segments)
			for segment := int64(0); segment < Segments; segment++ {
				select {
				case segments <- segment:
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() {
			wg.Wait()
			close(results)
		}()
		for r := range results {
			if r.err != nil {
				yield("", r.err)
				return
			}
			for _, id := range r.ids {
				if !yield(id, nil) {
					return
				}
			}
		}
		if err := ctx.Err(); err != nil {
			yield("", err)
		}
	}
}

// idsParallelism bounds the concurrent segment queries of IDsExpiringOn.
const idsParallelism = 16

// Read yields the journal's events with seqNr >= from in seqNr order (the original's
// EventualCassandra.read). Nothing is yielded when the journal has no metajournal row; events at
// or below its delete_to are skipped. Rows are fetched lazily, Config.PageSize at a time, so a
// journal of any length is read in bounded memory; breaking out of the loop stops the query.
//
// Unlike the original, the read does not stop at the first segment that ends early or is empty:
// it goes through every segment up to the one of the head's seq_nr (and beyond it while rows
// fill segments to their end, as the original does), so a seqNr gap at a segment boundary does
// not truncate the journal. After maxEmptySegments (64) empty segments in a row the read jumps to
// the 64 segments that end with the head's: rows in segments beyond the walk and more than 64
// segments below the head's are not read (a journal whose seqNrs jump by more than 64 × the
// segment size, 640,000 with the default, and then again; Akka-style journals never do). The
// original stops at the first such gap.
//
// A row whose meta_record_id differs from the head's record_id (left over from a purged
// incarnation) is logged and kept, or dropped with Config.CorrelateEventsWithMeta. Two rows
// with the same seqNr fail the read with ErrDataIntegrity unless Config.DisableSeqNrUniqueness.
func (st *Store) Read(ctx context.Context, key journal.Key, from journal.SeqNr) iter.Seq2[journal.EventRecord, error] {
	return func(yield func(journal.EventRecord, error) bool) {
		if err := from.Validate(); err != nil {
			yield(journal.EventRecord{}, fmt.Errorf("%w: read from %v", ErrInvalidArgument, err))
			return
		}
		head, ok, err := st.Head(ctx, key)
		if err != nil {
			yield(journal.EventRecord{}, err)
			return
		}
		if ok {
			st.read(ctx, key, head, from, yield)
		}
	}
}

// ReadHead is Read with the head already looked up (by JournalHead, possibly long before: a read of
// journal.Journals whose cached row is still exact, see the journal package doc): the rows are read
// as head lays them out, from max(from, head's delete_to+1). Nothing is yielded for the zero head.
func (st *Store) ReadHead(ctx context.Context, key journal.Key, head journal.EventualHead, from journal.SeqNr) iter.Seq2[journal.EventRecord, error] {
	return func(yield func(journal.EventRecord, error) bool) {
		if head.Layout == nil {
			return
		}
		h, ok := head.Layout.(Head)
		if !ok {
			yield(journal.EventRecord{}, fmt.Errorf("%w: read %s: head layout %T is not a cassandra.Head", ErrInvalidArgument, key, head.Layout))
			return
		}
		st.read(ctx, key, h, from, yield)
	}
}

func (st *Store) read(ctx context.Context, key journal.Key, head Head, from journal.SeqNr, yield func(journal.EventRecord, error) bool) {
	if err := from.Validate(); err != nil {
		yield(journal.EventRecord{}, fmt.Errorf("%w: read from %v", ErrInvalidArgument, err))
		return
	}
	if st.closed.Load() {
		yield(journal.EventRecord{}, ErrClosed)
		return
	}
	if head.DeleteTo >= from {
		if head.DeleteTo == journal.MaxSeqNr {
			return
		}
		from = head.DeleteTo + 1
	}
	r := reader{st: st, key: key, head: head, yield: yield, expect: from}
	r.run(ctx, from)
}

// maxEmptySegments bounds the consecutive empty segments a read queries before it jumps to the
// head's segment: each is one query.
const maxEmptySegments = 64

// reader is one Read in progress.
type reader struct {
	st    *Store
	key   journal.Key
	head  Head
	yield func(journal.EventRecord, error) bool

	expect    journal.SeqNr // the lowest seqNr the next row may have (uniqueness check)
	exhausted bool          // a row had MaxSeqNr: any further row is a duplicate
	orphans   int           // rows of another or no metajournal incarnation
}

func (r *reader) run(ctx context.Context, from journal.SeqNr) {
	size := r.head.SegmentSize
	segment := JournalSegment(from, size)
	// Every segment up to the head's seq_nr may hold rows, empty ones included.
	last := JournalSegment(max(r.head.SeqNr, from), size)
	cursor := from
	defer func() {
		if r.orphans > 0 {
			r.st.log.Warn("data integrity: events not correlated with the journal's metajournal record_id",
				"key", r.key.String(), "events", r.orphans, "dropped", r.st.cfg.CorrelateEventsWithMeta)
		}
	}()
	empty := 0 // consecutive segments without a row
	for {
		lastRow, ok := r.segment(ctx, segment, cursor)
		if !ok {
			return
		}
		if lastRow > 0 {
			empty = 0
			next, more := lastRow.Next()
			if !more {
				return
			}
			cursor = max(cursor, next)
		} else {
			empty++
		}
		switch {
		case segment < last && empty >= maxEmptySegments:
			// A gap wider than the walk: go on with the segments just below the head's, which
			// hold its last rows (an append may span a segment boundary). Segments are partition
			// keys, so the non-empty ones between cannot be found without querying each (up to
			// ~10^15 of them with seqNrs near 2^63: a read used to spin until its deadline).
			// Rows there are not read; see the doc of Read.
			jump := max(segment+1, last-maxEmptySegments+1)
			if jump > segment+1 {
				r.st.log.Warn("read: seqNr gap wider than the segments walked, reading on below the head's segment",
					"key", r.key.String(), "from_segment", segment, "to_segment", jump, "head_segment", last)
			}
			segment, empty = jump, 0
		case segment < last:
			segment++
		case lastRow > 0 && JournalSegment(cursor, size) != segment:
			// Past the head's segment: the original's rule, continue while a segment's last row
			// is its last seqNr (rows newer than the head we read).
			segment = JournalSegment(cursor, size)
		default:
			return
		}
	}
}

// segment yields the rows of one journal segment with seqNr >= from and returns the seqNr of its
// last row (0 when it had none); ok is false when the read must stop (error or consumer done).
func (r *reader) segment(ctx context.Context, segment int64, from journal.SeqNr) (lastRow journal.SeqNr, ok bool) {
	st := r.st
	it := st.s.Query(`
SELECT
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
headers FROM `+st.journal+`
WHERE id = ?
AND topic = ?
AND segment = ?
AND seq_nr >= ?
AND seq_nr <= ?
`, r.key.ID, r.key.Topic, segment, int64(from), int64(journal.MaxSeqNr)).
		WithContext(ctx).Consistency(st.cfg.ReadConsistency).PageSize(st.cfg.PageSize).Iter()
	for {
		var row journalRow
		if !row.scan(it) {
			break
		}
		lastRow = journal.SeqNr(row.seqNr)
		e, err := row.eventRecord()
		if err != nil {
			_ = it.Close()
			r.yield(journal.EventRecord{}, fmt.Errorf("%w: read %s seqNr %d: %w", ErrDataIntegrity, r.key, row.seqNr, err))
			return lastRow, false
		}
		if !r.correlated(row) {
			continue
		}
		if !st.cfg.DisableSeqNrUniqueness {
			if r.exhausted || e.SeqNr < r.expect {
				_ = it.Close()
				r.yield(journal.EventRecord{}, fmt.Errorf("%w: seqNr %d duplicated in multiple records from eventual journal, key %s",
					ErrDataIntegrity, e.SeqNr, r.key))
				return lastRow, false
			}
			next, more := e.SeqNr.Next()
			r.expect, r.exhausted = next, !more
		}
		if !r.yield(e, nil) {
			_ = it.Close()
			return lastRow, false
		}
	}
	if err := it.Close(); err != nil {
		r.yield(journal.EventRecord{}, wrapErr(fmt.Sprintf("read %s segment %d", r.key, segment), err))
		return lastRow, false
	}
	return lastRow, true
}

// correlated applies the original's correlation filter: with a head record_id, a row of no or
// another incarnation is logged (once per read, with a count) and kept, or dropped when
// CorrelateEventsWithMeta is set.
func (r *reader) correlated(row journalRow) bool {
	if r.head.RecordID == nil || (row.metaRecordID != nil && RecordID(*row.metaRecordID) == *r.head.RecordID) {
		return true
	}
	r.orphans++
	if r.orphans == 1 {
		reason := "belongs to purged meta"
		if row.metaRecordID == nil {
			reason = "is orphan"
		}
		r.st.log.Warn("data integrity: event "+reason, "key", r.key.String(), "seq_nr", row.seqNr,
			"dropped", r.st.cfg.CorrelateEventsWithMeta)
	}
	return !r.st.cfg.CorrelateEventsWithMeta
}

// journalRow is one row of the journal table as Read selects it.
type journalRow struct {
	seqNr        int64
	partition    int32
	offset       int64
	timestamp    time.Time
	origin       *string
	version      *string
	metaRecordID *gocql.UUID
	tags         []string
	payloadType  *string
	payloadTxt   *string
	payloadBin   []byte
	metadata     *string
	headers      map[string]string
}

func (row *journalRow) scan(it *gocql.Iter) bool {
	return it.Scan(&row.seqNr, &row.partition, &row.offset, &row.timestamp, &row.origin, &row.version,
		&row.metaRecordID, &row.tags, &row.payloadType, &row.payloadTxt, &row.payloadBin, &row.metadata, &row.headers)
}

func (row *journalRow) eventRecord() (journal.EventRecord, error) {
	e := journal.EventRecord{
		Event:     journal.Event{SeqNr: journal.SeqNr(row.seqNr), Tags: row.tags},
		Timestamp: row.timestamp.UTC(),
		PartitionOffset: journal.PartitionOffset{
			Partition: row.partition,
			Offset:    row.offset,
		},
		Origin:  deref(row.origin),
		Version: deref(row.version),
	}
	if len(row.headers) > 0 {
		e.Headers = row.headers
	}
	if row.payloadType != nil {
		// As EventualPayloadAndType: text and JSON live in payload_txt, bytes in payload_bin; an
		// unknown type name reads as binary.
		t := journal.PayloadType(*row.payloadType)
		if !t.Valid() {
			t = journal.PayloadBinary
		}
		switch {
		case row.payloadTxt != nil:
			e.Payload = journal.Payload{Type: t, Data: []byte(*row.payloadTxt)}
		case row.payloadBin != nil:
			e.Payload = journal.Payload{Type: t, Data: row.payloadBin}
		default:
			e.Payload = journal.Payload{Type: t, Data: []byte{}}
		}
	}
	md, err := decodeRecordMetadata(deref(row.metadata))
	if err != nil {
		return e, err
	}
	e.Metadata = md
	return e, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
