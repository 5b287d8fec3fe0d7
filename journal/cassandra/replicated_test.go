package cassandra_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// countRows counts the journal rows of key in one segment.
func countRows(tb testing.TB, st *cassandra.Store, key journal.Key, segment int64) int {
	tb.Helper()
	var n int
	if err := st.Session().Query(`SELECT count(*) FROM `+ksOf(st)+`.journal WHERE id = ? AND topic = ? AND segment = ?`,
		key.ID, key.Topic, segment).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func ksOf(st *cassandra.Store) string { return cassandra.StoreKeyspace(st) }

func po(offset int64) journal.PartitionOffset { return journal.PartitionOffset{Offset: offset} }

// TestReplicated_NotRepeatAppends is ReplicatedCassandraTest's "not repeat appends" and "ignore
// previously applied append": an append at or below the head's offset changes nothing, and events
// at or below it inside a newer batch are not inserted again.
func TestReplicated_NotRepeatAppends(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	key := newKey()
	es := eventsOf(1, 1, 2) // offsets 1,2
	if !appendLast(t, st, key, es) {
		t.Fatal("first append: not changed")
	}
	if appendLast(t, st, key, es) {
		t.Fatal("repeated append: changed")
	}
	if mustAppend(t, st, key, po(1), 0, es[:1]) {
		t.Fatal("older append: changed")
	}
	// A batch overlapping the applied one: seqNr 2 again (with another timestamp, so a second
	// insert would show up as a second row), and seqNr 3.
	again := es[1]
	again.Timestamp = ts.Add(time.Second)
	next := eventOf(3, 3)
	if !mustAppend(t, st, key, po(3), 0, []journal.EventRecord{again, next}) {
		t.Fatal("overlapping append: not changed")
	}
	assertEvents(t, mustRead(t, st, key, 1), append(es, next))
	if n := countRows(t, st, key, 0); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	assertPointer(t, st, key, 3, 3)
}

func TestReplicated_NotRepeatDeletions(t *testing.T) {
	st := journalKeyspace(t)(t, 2)
	key := newKey()
	appendLast(t, st, key, eventsOf(1, 1, 7)) // offsets 1..7, segments 0,0,1,1,2,2,3
	if !mustDelete(t, st, key, 8, 4) {
		t.Fatal("delete: not changed")
	}
	if mustDelete(t, st, key, 8, 5) {
		t.Fatal("repeated delete: changed")
	}
	if mustDelete(t, st, key, 7, 6) {
		t.Fatal("older delete: changed")
	}
	h, _ := mustHead(t, st, key)
	if h.DeleteTo != 4 || h.SeqNr != 7 || h.PartitionOffset.Offset != 8 {
		t.Fatalf("head %+v", h)
	}
	for seg, want := range map[int64]int{0: 0, 1: 0, 2: 2, 3: 1} {
		if n := countRows(t, st, key, seg); n != want {
			t.Errorf("segment %d: %d rows, want %d", seg, n, want)
		}
	}
	// delete to 5: a range deletion inside segment 2
	if !mustDelete(t, st, key, 9, 5) {
		t.Fatal("delete 5: not changed")
	}
	if n := countRows(t, st, key, 2); n != 1 {
		t.Errorf("segment 2 after delete to 5: %d rows, want 1", n)
	}
	assertEvents(t, mustRead(t, st, key, 1), eventsOf(6, 6, 2))
	// delete beyond the last seqNr keeps seq_nr, clamps delete_to
	mustDelete(t, st, key, 10, journal.MaxSeqNr)
	h, _ = mustHead(t, st, key)
	if h.DeleteTo != 7 || h.SeqNr != 7 {
		t.Fatalf("head after delete max %+v, want seq_nr 7 delete_to 7", h)
	}
	assertEvents(t, mustRead(t, st, key, 1), nil)
	for seg := int64(0); seg <= 3; seg++ {
		if n := countRows(t, st, key, seg); n != 0 {
			t.Errorf("segment %d after delete max: %d rows", seg, n)
		}
	}
}

// TestReplicated_DeleteAdvancesSeqNr pins the original's oddity ("optimization: delete action
// advances head's seq_nr"): a head with seq_nr 300 and delete_to 400, deleted to 200, ends with
// seq_nr 400 and delete_to 200.
func TestReplicated_DeleteAdvancesSeqNr(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	key := newKey()
	mustDelete(t, st, key, 1, 400)
	mustAppend(t, st, key, po(2), 0, []journal.EventRecord{eventOf(2, 300)}) // seq_nr = 300, not max'ed
	h, _ := mustHead(t, st, key)
	if h.SeqNr != 300 || h.DeleteTo != 400 {
		t.Fatalf("head %+v, want seq_nr 300 delete_to 400", h)
	}
	mustDelete(t, st, key, 3, 200)
	h, _ = mustHead(t, st, key)
	if h.SeqNr != 400 || h.DeleteTo != 200 {
		t.Fatalf("head %+v, want seq_nr 400 delete_to 200", h)
	}
}

func TestReplicated_Purge(t *testing.T) {
	open := journalKeyspace(t)
	st := open(t, 2)
	ctx := context.Background()

	t.Run("no head", func(t *testing.T) {
		if changed, err := st.Purge(ctx, newKey(), po(1), ts); err != nil || changed {
			t.Fatalf("purge without head: %v, %v", changed, err)
		}
	})

	t.Run("purge, repeat, append anew", func(t *testing.T) {
		key := newKey()
		appendLast(t, st, key, eventsOf(1, 1, 5))
		h0, _ := mustHead(t, st, key)
		if changed, err := st.Purge(ctx, key, po(4), ts); err != nil || changed {
			t.Fatalf("purge below the head's offset: %v, %v", changed, err)
		}
		if changed, err := st.Purge(ctx, key, po(6), ts); err != nil || !changed {
			t.Fatalf("purge: %v, %v", changed, err)
		}
		assertPointer(t, st, key, -1, 0)
		assertEvents(t, mustRead(t, st, key, 1), nil)
		for seg := int64(0); seg <= 3; seg++ {
			if n := countRows(t, st, key, seg); n != 0 {
				t.Errorf("segment %d: %d rows after purge", seg, n)
			}
		}
		if changed, err := st.Purge(ctx, key, po(6), ts); err != nil || changed {
			t.Fatalf("repeated purge: %v, %v", changed, err)
		}
		// the next append starts a new journal, with a new record_id
		es := eventsOf(7, 1, 2)
		appendLast(t, st, key, es)
		assertEvents(t, mustRead(t, st, key, 1), es)
		h1, _ := mustHead(t, st, key)
		if h1.RecordID == nil || *h1.RecordID == *h0.RecordID {
			t.Fatalf("record_id %v after purge, before %v", h1.RecordID, h0.RecordID)
		}
	})

	t.Run("delete_to above seq_nr", func(t *testing.T) {
		key := newKey()
		mustDelete(t, st, key, 1, 400)
		mustAppend(t, st, key, po(2), 0, []journal.EventRecord{eventOf(2, 300)})
		if changed, err := st.Purge(ctx, key, po(3), ts); err != nil || !changed {
			t.Fatalf("purge: %v, %v", changed, err)
		}
		assertPointer(t, st, key, -1, 0)
		if n := countRows(t, st, key, cassandra.JournalSegment(300, 2)); n != 0 {
			t.Errorf("%d rows left", n)
		}
	})

	t.Run("partly deleted", func(t *testing.T) {
		key := newKey()
		appendLast(t, st, key, eventsOf(1, 1, 9))
		mustDelete(t, st, key, 10, 3)
		if changed, err := st.Purge(ctx, key, po(11), ts); err != nil || !changed {
			t.Fatalf("purge: %v, %v", changed, err)
		}
		for seg := int64(0); seg <= 5; seg++ {
			if n := countRows(t, st, key, seg); n != 0 {
				t.Errorf("segment %d: %d rows after purge", seg, n)
			}
		}
	})
}

// TestRead_GapAtSegmentBoundary is the corner case the original gets wrong: it continues to the
// next segment only when a segment's last row is the segment's last seqNr, so a seqNr gap at a
// boundary, or an empty segment, truncated the read.
func TestRead_GapAtSegmentBoundary(t *testing.T) {
	st := journalKeyspace(t)(t, 2)

	t.Run("last seqNr of a segment missing", func(t *testing.T) {
		key := newKey()
		e1 := eventOf(1, 1)
		more := eventsOf(2, 3, 2) // seqNr 3,4: segment 1; seqNr 2 never written
		appendLast(t, st, key, []journal.EventRecord{e1})
		appendLast(t, st, key, more)
		assertEvents(t, mustRead(t, st, key, 1), append([]journal.EventRecord{e1}, more...))
		assertEvents(t, mustRead(t, st, key, 2), more)
	})

	t.Run("empty segments", func(t *testing.T) {
		key := newKey()
		a := eventsOf(1, 1, 2)  // segment 0
		b := eventsOf(3, 11, 2) // seqNr 11,12: segment 5; segments 1..4 empty
		appendLast(t, st, key, a)
		appendLast(t, st, key, b)
		assertEvents(t, mustRead(t, st, key, 1), append(a, b...))
		assertEvents(t, mustRead(t, st, key, 3), b)
		assertEvents(t, mustRead(t, st, key, 12), b[1:])
		assertEvents(t, mustRead(t, st, key, 13), nil)
	})

	t.Run("a gap up to MaxSeqNr", func(t *testing.T) {
		// ~4.6e18 empty segments between: the read jumps to the head's segment instead of
		// querying them (it used to run until its deadline).
		key := newKey()
		a := eventsOf(1, 1, 2)
		b := []journal.EventRecord{eventOf(3, journal.MaxSeqNr-1), eventOf(4, journal.MaxSeqNr)}
		appendLast(t, st, key, a)
		appendLast(t, st, key, b)
		assertEvents(t, mustRead(t, st, key, 1), append(a, b...))
		assertEvents(t, mustRead(t, st, key, 3), b)
	})

	t.Run("a gap wider than the walk", func(t *testing.T) {
		// The documented limit: rows beyond 64 empty segments and more than 64 segments below
		// the head's are not read (the original stops at the first empty segment, losing the head's rows too).
		key := newKey()
		a := eventsOf(1, 1, 1)
		lost := eventsOf(2, 2*66+1, 1) // segment 66: segments 1..65 empty
		b := eventsOf(3, 2*1000+1, 1)  // segment 1000, the head's; the walk resumes at 937
		appendLast(t, st, key, a)
		appendLast(t, st, key, lost)
		appendLast(t, st, key, b)
		assertEvents(t, mustRead(t, st, key, 1), append(a, b...))
		within := newKey()
		near := eventsOf(2, 2*60+1, 1) // segment 60: 59 empty segments, within the walk
		appendLast(t, st, within, a)
		appendLast(t, st, within, near)
		appendLast(t, st, within, b)
		assertEvents(t, mustRead(t, st, within, 1), append(append(a, near...), b...))
	})

	t.Run("deleted segments", func(t *testing.T) {
		key := newKey()
		appendLast(t, st, key, eventsOf(1, 1, 6))
		mustDelete(t, st, key, 7, 5)
		assertEvents(t, mustRead(t, st, key, 1), eventsOf(6, 6, 1))
	})

	t.Run("rows beyond the head", func(t *testing.T) {
		// A reader may see the head before a concurrent append updates it; rows filling segments
		// past the head's segment are still followed, as in the original.
		key := newKey()
		a := eventsOf(1, 1, 2)
		appendLast(t, st, key, a)
		insertRow(t, st, key, eventOf(2, 3), nil)
		insertRow(t, st, key, eventOf(3, 4), nil)
		assertEvents(t, mustRead(t, st, key, 1), append(a, eventOf(2, 3), eventOf(3, 4)))
	})
}

// insertRow writes a journal row directly, as another (possibly broken) writer would.
func insertRow(tb testing.TB, st *cassandra.Store, key journal.Key, e journal.EventRecord, metaRecordID *gocql.UUID) {
	tb.Helper()
	h, _ := mustHead(tb, st, key)
	md, err := cassandra.EncodeRecordMetadata(e.Metadata)
	if err != nil {
		tb.Fatal(err)
	}
	var rid any = gocql.UnsetValue
	if metaRecordID != nil {
		rid = *metaRecordID
	}
	if err := st.Session().Query(`INSERT INTO `+ksOf(st)+`.journal (id, topic, segment, seq_nr, timestamp, partition, offset, meta_record_id, metadata, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		key.ID, key.Topic, cassandra.JournalSegment(e.SeqNr, h.SegmentSize), int64(e.SeqNr), e.Timestamp, e.Partition, e.Offset, rid, md, map[string]string(e.Headers)).Exec(); err != nil {
		tb.Fatal(err)
	}
}

func TestRead_DataIntegrity(t *testing.T) {
	open := journalKeyspace(t)
	st := open(t, 0)
	lenient := open(t, 0, func(c *cassandra.Config) { c.DisableSeqNrUniqueness = true })
	strict := open(t, 0, func(c *cassandra.Config) { c.CorrelateEventsWithMeta = true })

	t.Run("duplicated seqNr", func(t *testing.T) {
		key := newKey()
		es := eventsOf(1, 1, 3)
		appendLast(t, st, key, es)
		h, _ := mustHead(t, st, key)
		dup := es[1]
		dup.Timestamp = ts.Add(time.Millisecond)
		rid := gocql.UUID(*h.RecordID)
		insertRow(t, st, key, dup, &rid)

		got, err := readAll(t, st, key, 1)
		if !errors.Is(err, journal.ErrDataIntegrity) || !errors.Is(err, cassandra.ErrDataIntegrity) {
			t.Fatalf("read: %v, want ErrDataIntegrity", err)
		}
		assertEvents(t, got, es[:2])
		got = mustRead(t, lenient, key, 1)
		assertEvents(t, got, []journal.EventRecord{es[0], es[1], dup, es[2]})
	})

	t.Run("correlation", func(t *testing.T) {
		key := newKey()
		es := eventsOf(1, 1, 2)
		appendLast(t, st, key, es)
		other, _ := gocql.RandomUUID()
		stale, orphan := eventOf(3, 3), eventOf(4, 4)
		insertRow(t, st, key, stale, &other)                                // left over from a purged incarnation
		insertRow(t, st, key, orphan, nil)                                  // written without meta_record_id
		assertEvents(t, mustRead(t, st, key, 1), append(es, stale, orphan)) // kept, logged
		assertEvents(t, mustRead(t, strict, key, 1), es)                    // dropped

		// a duplicate of another incarnation is tolerated when it is dropped
		dup := es[1]
		dup.Timestamp = ts.Add(time.Millisecond)
		insertRow(t, st, key, dup, &other)
		assertEvents(t, mustRead(t, strict, key, 1), es)
		if _, err := readAll(t, st, key, 1); !errors.Is(err, journal.ErrDataIntegrity) {
			t.Fatalf("read keeping uncorrelated rows: %v, want ErrDataIntegrity", err)
		}
	})

	t.Run("unreadable metadata", func(t *testing.T) {
		key := newKey()
		appendLast(t, st, key, eventsOf(1, 1, 1))
		if err := st.Session().Query(`UPDATE `+ksOf(st)+`.journal SET metadata = 'not json' WHERE id = ? AND topic = ? AND segment = 0 AND seq_nr = 1 AND timestamp = ?`,
			key.ID, key.Topic, ts).Exec(); err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, st, key, 1); !errors.Is(err, journal.ErrDataIntegrity) {
			t.Fatalf("read: %v, want ErrDataIntegrity", err)
		}
	})
}

// TestReplicated_Expiry is ExpiryService's Update/Ignore/Remove matrix through Append, with the
// stored DURATION and DATE values.
func TestReplicated_Expiry(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	key := newKey()
	day := 24 * time.Hour
	// 23:30 UTC + 1h is the next day in UTC, whatever the local zone.
	late := time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC)
	read := func() (after *gocql.Duration, on *time.Time) {
		t.Helper()
		if err := st.Session().Query(`SELECT expire_after, expire_on FROM `+ksOf(st)+`.metajournal WHERE topic = ? AND segment = ? AND id = ?`,
			key.Topic, cassandra.MetaJournalSegment(key.ID, cassandra.Segments), key.ID).Scan(&after, &on); err != nil {
			t.Fatal(err)
		}
		return after, on
	}
	ctx := context.Background()
	if _, err := st.Append(ctx, key, po(1), late, time.Hour+30*time.Second, []journal.EventRecord{eventOf(1, 1)}); err != nil {
		t.Fatal(err)
	}
	after, on := read()
	if after == nil || *after != (gocql.Duration{Months: 0, Days: 0, Nanoseconds: int64(time.Hour + 30*time.Second)}) ||
		on == nil || on.Format("2006-01-02") != "2026-03-15" {
		t.Fatalf("expiry %v %v, want 1h30s on 2026-03-15", after, on)
	}
	if _, err := st.Append(ctx, key, po(2), ts, day+time.Minute, []journal.EventRecord{eventOf(2, 2)}); err != nil {
		t.Fatal(err)
	}
	after, on = read()
	if after == nil || *after != (gocql.Duration{Days: 1, Nanoseconds: int64(time.Minute)}) || on.Format("2006-01-02") != "2026-03-15" {
		t.Fatalf("updated expiry %v %v, want 1 day 1 minute on 2026-03-15", after, on)
	}
	h, _ := mustHead(t, st, key)
	if h.Expiry == nil || h.Expiry.After != day+time.Minute || !h.Expiry.On.Equal(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("head expiry %+v", h.Expiry)
	}
	// same expiry again: kept
	if _, err := st.Append(ctx, key, po(3), ts, day+time.Minute, []journal.EventRecord{eventOf(3, 3)}); err != nil {
		t.Fatal(err)
	}
	if after, _ := read(); after == nil {
		t.Fatal("expiry lost")
	}
	// no expireAfter: removed
	if _, err := st.Append(ctx, key, po(4), ts, 0, []journal.EventRecord{eventOf(4, 4)}); err != nil {
		t.Fatal(err)
	}
	if after, on := read(); after != nil || on != nil {
		t.Fatalf("expiry %v %v after an append without expireAfter, want none", after, on)
	}
	// the expire_on index answers the purge-expired query
	key2 := newKey()
	if _, err := st.Append(ctx, key2, po(1), ts, day, []journal.EventRecord{eventOf(1, 1)}); err != nil {
		t.Fatal(err)
	}
	found := false
	for id, err := range st.IDsExpiringOn(ctx, key2.Topic, ts.Add(day)) {
		if err != nil {
			t.Fatal(err)
		}
		found = found || id == key2.ID
		if id == key.ID {
			t.Errorf("%s listed, its expiry was removed", id)
		}
	}
	if !found {
		t.Errorf("%s not listed as expiring on %s", key2.ID, ts.Add(day).Format("2006-01-02"))
	}
}

// TestReplicated_LegacySegment: a metajournal row in the legacy hash%100 segment is found and
// kept up to date there.
func TestReplicated_LegacySegment(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	var key journal.Key
	for {
		key = newKey()
		if cassandra.MetaJournalSegment(key.ID, cassandra.Segments) != cassandra.MetaJournalSegment(key.ID, cassandra.LegacySegments) {
			break
		}
	}
	legacy := cassandra.MetaJournalSegment(key.ID, cassandra.LegacySegments)
	if err := st.Session().Query(`INSERT INTO `+ksOf(st)+`.metajournal (topic, segment, id, partition, offset, segment_size, seq_nr, created, updated) VALUES (?, ?, ?, 0, 5, 10000, 2, ?, ?)`,
		key.Topic, legacy, key.ID, ts, ts).Exec(); err != nil {
		t.Fatal(err)
	}
	h, ok := mustHead(t, st, key)
	if !ok || h.Segment != legacy || h.SeqNr != 2 || h.RecordID != nil {
		t.Fatalf("head %+v %v, want the legacy row", h, ok)
	}
	if eh, err := st.JournalHead(context.Background(), key); err != nil || eh.SeqNr != 2 || eh.Layout.(cassandra.Head).Segment != legacy {
		t.Fatalf("JournalHead %+v %v, want the legacy row", eh, err)
	}
	appendLast(t, st, key, eventsOf(6, 3, 2))
	h, _ = mustHead(t, st, key)
	if h.Segment != legacy || h.SeqNr != 4 || h.PartitionOffset.Offset != 7 {
		t.Fatalf("head %+v after append", h)
	}
	var n int
	if err := st.Session().Query(`SELECT count(*) FROM `+ksOf(st)+`.metajournal WHERE topic = ? AND segment = ?`,
		key.Topic, cassandra.MetaJournalSegment(key.ID, cassandra.Segments)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows in the current segment (%v), want 0", n, err)
	}
	// without a record_id, rows carry none and reads do not correlate
	assertEvents(t, mustRead(t, st, key, 3), eventsOf(6, 3, 2))
}

// TestReplicated_RowFormat checks the columns Append writes against what the original writes for
// the same events: payload columns, metadata JSON, tags, headers, origin, version, record ids, and
// the metajournal row.
func TestReplicated_RowFormat(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	key := newKey()
	md := journal.RecordMetadata{
		Header:  journal.HeaderMetadata{Data: json.RawMessage(`{ "k" : "v" }`)},
		Payload: journal.PayloadMetadata{ExpireAfter: 24 * time.Hour, Data: json.RawMessage(`{"p": [1, 2]}`)},
	}
	base := journal.EventRecord{Timestamp: ts, Origin: "host-1", Version: "11.0.0", Metadata: md, Headers: journal.Headers{"h": "1"}}
	mk := func(seqNr journal.SeqNr, p journal.Payload, tags ...string) journal.EventRecord {
		e := base
		e.SeqNr, e.Payload, e.Tags, e.PartitionOffset = seqNr, p, tags, po(int64(seqNr))
		return e
	}
	es := []journal.EventRecord{
		mk(1, journal.JSONPayload(json.RawMessage(`{ "a" : 1 }`)), "a", "b"),
		mk(2, journal.TextPayload("text ü")),
		mk(3, journal.BinaryPayload([]byte{0, 1, 2})),
		mk(4, journal.Payload{}),
		mk(5, journal.BinaryPayload(nil)),
	}
	if _, err := st.Append(context.Background(), key, po(5), ts, 24*time.Hour, es); err != nil {
		t.Fatal(err)
	}
	h, _ := mustHead(t, st, key)

	type row struct {
		payloadType, payloadTxt, metadata, origin, version *string
		payloadBin                                         *[]byte
		tags                                               []string
		headers                                            map[string]string
		metaRecordID                                       *gocql.UUID
	}
	iter := st.Session().Query(`SELECT payload_type, payload_txt, payload_bin, metadata, origin, version, tags, headers, meta_record_id FROM `+ksOf(st)+`.journal WHERE id = ? AND topic = ? AND segment = 0`,
		key.ID, key.Topic).Iter()
	var rows []row
	for {
		var r row
		if !iter.Scan(&r.payloadType, &r.payloadTxt, &r.payloadBin, &r.metadata, &r.origin, &r.version, &r.tags, &r.headers, &r.metaRecordID) {
			break
		}
		rows = append(rows, r)
	}
	if err := iter.Close(); err != nil || len(rows) != 5 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	str := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	wantMD := `{"header":{"data":{"k":"v"}},"payload":{"expireAfter":"1 day","data":{"p":[1,2]}}}`
	for i, want := range []struct{ typ, txt, bin string }{
		{"json", `{"a":1}`, "<null>"},
		{"text", "text ü", "<null>"},
		{"binary", "<null>", "\x00\x01\x02"},
		{"<null>", "<null>", "<null>"},
		{"binary", "<null>", ""},
	} {
		r := rows[i]
		bin := "<null>"
		if r.payloadBin != nil {
			bin = string(*r.payloadBin)
		}
		if str(r.payloadType) != want.typ || str(r.payloadTxt) != want.txt || bin != want.bin {
			t.Errorf("row %d payload = %s %q %q, want %s %q %q", i+1, str(r.payloadType), str(r.payloadTxt), bin, want.typ, want.txt, want.bin)
		}
		if str(r.metadata) != wantMD || str(r.origin) != "host-1" || str(r.version) != "11.0.0" || r.headers["h"] != "1" {
			t.Errorf("row %d: metadata %s origin %s version %s headers %v", i+1, str(r.metadata), str(r.origin), str(r.version), r.headers)
		}
		if r.metaRecordID == nil || cassandra.RecordID(*r.metaRecordID) != *h.RecordID {
			t.Errorf("row %d meta_record_id %v, want %v", i+1, r.metaRecordID, h.RecordID)
		}
	}
	if got := rows[0].tags; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("tags %v", got)
	}

	var (
		segmentSize                  int
		created, updated             time.Time
		createdDate                  string
		origin                       *string
		properties                   map[string]string
		propertiesNull, metadataNull bool
		metadata                     *string
		deleteTo                     *int64
	)
	if err := st.Session().Query(`SELECT segment_size, created, created_date, updated, origin, properties, metadata, delete_to FROM `+ksOf(st)+`.metajournal WHERE topic = ? AND segment = ? AND id = ?`,
		key.Topic, cassandra.MetaJournalSegment(key.ID, cassandra.Segments), key.ID).Scan(&segmentSize, &created, &createdDate, &updated, &origin, &properties, &metadata, &deleteTo); err != nil {
		t.Fatal(err)
	}
	propertiesNull, metadataNull = properties == nil, metadata == nil
	if segmentSize != 10000 || !created.Equal(ts) || !updated.Equal(ts) || createdDate != ts.Format("2006-01-02") ||
		str(origin) != "host-1" || !propertiesNull || !metadataNull || deleteTo != nil {
		t.Errorf("metajournal row: segment_size %d created %v created_date %s updated %v origin %s properties %v metadata %v delete_to %v",
			segmentSize, created, createdDate, updated, str(origin), properties, metadata, deleteTo)
	}

	// and it all reads back as written, JSON compacted, tags sorted
	got := mustRead(t, st, key, 1)
	if len(got) != 5 {
		t.Fatalf("read %d events", len(got))
	}
	if string(got[0].Payload.Data) != `{"a":1}` || got[0].Payload.Type != journal.PayloadJSON || string(got[1].Payload.Data) != "text ü" ||
		string(got[2].Payload.Data) != "\x00\x01\x02" || !got[3].Payload.IsEmpty() || got[4].Payload.Type != journal.PayloadBinary || len(got[4].Payload.Data) != 0 {
		t.Errorf("payloads read back: %+v", got)
	}
	if string(got[0].Metadata.Header.Data) != `{"k":"v"}` || string(got[0].Metadata.Payload.Data) != `{"p":[1,2]}` || got[0].Metadata.Payload.ExpireAfter != 24*time.Hour ||
		got[0].Origin != "host-1" || got[0].Version != "11.0.0" || got[0].Headers["h"] != "1" || !got[0].Timestamp.Equal(ts) {
		t.Errorf("event read back: %+v", got[0])
	}
}

func TestRecordMetadata_Codec(t *testing.T) {
	for _, tc := range []struct {
		json string
		md   journal.RecordMetadata
		read string // a different input that reads as md; "" = json
	}{
		{json: `{"header":{},"payload":{}}`},
		{json: `{"header":{"data":{"key0":"value0"}},"payload":{"expireAfter":"1 day","data":{"key1":"value1"}}}`,
			md: journal.RecordMetadata{Header: journal.HeaderMetadata{Data: json.RawMessage(`{"key0":"value0"}`)},
				Payload: journal.PayloadMetadata{ExpireAfter: 24 * time.Hour, Data: json.RawMessage(`{"key1":"value1"}`)}}},
		{json: `{"header":{"data":{"key0":"value0"}},"payload":{"data":{"key1":"value1"}}}`,
			md: journal.RecordMetadata{Header: journal.HeaderMetadata{Data: json.RawMessage(`{"key0":"value0"}`)},
				Payload: journal.PayloadMetadata{Data: json.RawMessage(`{"key1":"value1"}`)}}},
		{json: `{"header":{},"payload":{"expireAfter":"1 day","data":{"key1":"value1"}}}`,
			md: journal.RecordMetadata{Payload: journal.PayloadMetadata{ExpireAfter: 24 * time.Hour, Data: json.RawMessage(`{"key1":"value1"}`)}}},
		{json: `{"header":{"data":{"key0":"value0"}},"payload":{}}`, read: `{"data":{"key0":"value0"}}`,
			md: journal.RecordMetadata{Header: journal.HeaderMetadata{Data: json.RawMessage(`{"key0":"value0"}`)}}},
		{json: `{"header":{},"payload":{"expireAfter":"90 seconds"}}`, read: `{"payload":{"expireAfter":90000}}`,
			md: journal.RecordMetadata{Payload: journal.PayloadMetadata{ExpireAfter: 90 * time.Second}}},
	} {
		got, err := cassandra.EncodeRecordMetadata(tc.md)
		if err != nil || got != tc.json {
			t.Errorf("encode %+v = %s, %v; want %s", tc.md, got, err, tc.json)
		}
		for _, in := range []string{tc.json, tc.read} {
			if in == "" {
				continue
			}
			md, err := cassandra.DecodeRecordMetadata(in)
			if err != nil {
				t.Errorf("decode %s: %v", in, err)
				continue
			}
			re, _ := cassandra.EncodeRecordMetadata(md)
			if re != tc.json {
				t.Errorf("decode %s = %+v (re-encoded %s), want %s", in, md, re, tc.json)
			}
		}
	}
	if md, err := cassandra.DecodeRecordMetadata(""); err != nil || md.Header.Data != nil || !md.Payload.IsEmpty() {
		t.Errorf("decode null: %+v %v", md, err)
	}
	if _, err := cassandra.DecodeRecordMetadata("[1]"); err == nil {
		t.Error("decode [1]: no error")
	}
}

// TestRead_LargeJournal reads a long journal with a small page size and checks that the read is
// lazy and its memory bounded. It writes 20,000 events; KJ_TEST_LARGE=1 makes it 1,000,000.
func TestRead_LargeJournal(t *testing.T) {
	n := 20000
	if os.Getenv("KJ_TEST_LARGE") != "" {
		n = 1_000_000
	}
	st := journalKeyspace(t)(t, 0, func(c *cassandra.Config) { c.PageSize = 500 })
	key := newKey()
	payload := journal.BinaryPayload(make([]byte, 100))
	start := time.Now()
	const batch = 5000
	for i := 0; i < n; i += batch {
		es := make([]journal.EventRecord, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			e := eventOf(int64(j), journal.SeqNr(j+1))
			e.Payload = payload
			es = append(es, e)
		}
		appendLast(t, st, key, es)
	}
	t.Logf("wrote %d events in %v", n, time.Since(start))

	runtime.GC()
	var before, now runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := before.HeapAlloc
	start = time.Now()
	next := journal.SeqNr(1)
	for e, err := range st.Read(context.Background(), key, 1) {
		if err != nil {
			t.Fatal(err)
		}
		if e.SeqNr != next {
			t.Fatalf("seqNr %d, want %d", e.SeqNr, next)
		}
		next++
		if next%10000 == 0 {
			runtime.ReadMemStats(&now)
			peak = max(peak, now.HeapAlloc)
		}
	}
	if int(next-1) != n {
		t.Fatalf("read %d events, want %d", next-1, n)
	}
	growth := int64(peak) - int64(before.HeapAlloc)
	t.Logf("read %d events in %v, heap growth at most %d KiB", n, time.Since(start), growth/1024)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while reading", growth>>20)
	}

	// breaking out early stops the read
	count := 0
	for _, err := range st.Read(context.Background(), key, journal.SeqNr(n-10)) {
		if err != nil {
			t.Fatal(err)
		}
		count++
		if count == 3 {
			break
		}
	}
	if count != 3 {
		t.Fatalf("count %d", count)
	}
}

// TestReplicated_OverlappingAppends: an Append whose seqNrs overlap an earlier one (a client's retry
// after a timeout) adds rows only for the seqNrs that have none, in a later round or merged into the
// same one, so the journal still reads, with the first event of each seqNr, as a read of
// the Kafka records returns it. The original inserts a second row and every read fails.
func TestReplicated_OverlappingAppends(t *testing.T) {
	st := journalKeyspace(t)(t, 0)
	other := func(e journal.EventRecord, offset int64) journal.EventRecord {
		e.PartitionOffset.Offset = offset
		e.Timestamp = ts.Add(time.Second) // a second row, were it inserted
		e.Headers = journal.Headers{"retry": "yes"}
		return e
	}

	t.Run("later round", func(t *testing.T) {
		key := newKey()
		es := eventsOf(1, 1, 2) // offsets 1,2: seqNrs 1,2
		appendLast(t, st, key, es)
		retry := []journal.EventRecord{other(es[1], 3), eventOf(3, 3)} // seqNr 2 again, then 3, at offset 3
		if !mustAppend(t, st, key, po(3), 0, retry) {
			t.Fatal("overlapping append: not changed")
		}
		assertEvents(t, mustRead(t, st, key, 1), append(es, retry[1]))
		if n := countRows(t, st, key, 0); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
		assertPointer(t, st, key, 3, 3)
	})
	t.Run("out of order", func(t *testing.T) {
		// Concurrent appends to one journal (a caller error) may reach Kafka out of seqNr order:
		// an older seqNr without a row still gets its row, a retried one does not. (Not covered:
		// a retry of seqNr 4 here, above the head's seq_nr 2, which the original's last-Append-wins
		// seq_nr no longer bounds: it would get a second row.)
		key := newKey()
		mustAppend(t, st, key, po(1), 0, []journal.EventRecord{eventOf(1, 1)})
		mustAppend(t, st, key, po(2), 0, []journal.EventRecord{eventOf(2, 3)})
		mustAppend(t, st, key, po(3), 0, []journal.EventRecord{eventOf(3, 4)})
		mustAppend(t, st, key, po(4), 0, []journal.EventRecord{eventOf(4, 2)})
		mustAppend(t, st, key, po(5), 0, []journal.EventRecord{other(eventOf(4, 2), 5)})
		assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{eventOf(1, 1), eventOf(4, 2), eventOf(2, 3), eventOf(3, 4)})
		if n := countRows(t, st, key, 0); n != 4 {
			t.Fatalf("%d rows, want 4", n)
		}
	})
	t.Run("same round", func(t *testing.T) {
		key := newKey()
		es := eventsOf(1, 1, 2)
		merged := append(append([]journal.EventRecord{}, es...), other(es[0], 3), other(es[1], 3), eventOf(3, 3))
		if !mustAppend(t, st, key, po(3), 0, merged) {
			t.Fatal("append: not changed")
		}
		assertEvents(t, mustRead(t, st, key, 1), append(es, eventOf(3, 3)))
		if n := countRows(t, st, key, 0); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	})
}
