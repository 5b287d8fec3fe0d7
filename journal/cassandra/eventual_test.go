package cassandra_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// journalKeyspace creates a fresh keyspace for one top-level test (dropped when it ends) and
// returns a function that opens stores on it with a given segment size (0: default); within the
// test every journal gets a random id, so scenarios can share the keyspace and run in parallel.
func journalKeyspace(tb testing.TB) func(tb testing.TB, segmentSize int, adjust ...func(*cassandra.Config)) *cassandra.Store {
	tb.Helper()
	hosts, ks, _ := testKeyspace(tb)
	return func(tb testing.TB, segmentSize int, adjust ...func(*cassandra.Config)) *cassandra.Store {
		tb.Helper()
		cfg := testConfig(tb, hosts, ks)
		cfg.SegmentSize = segmentSize
		for _, f := range adjust {
			f(&cfg)
		}
		return openStore(tb, cfg)
	}
}

// ts is the append time of the spec: Cassandra keeps milliseconds.
var ts = time.Date(2026, 3, 14, 15, 9, 26, 535000000, time.UTC)

func newKey() journal.Key { return journal.Key{Topic: "topic", ID: testenv.Name("id")} }

// eventOf is EventualJournalSpec.eventOf: an event without payload, with header metadata and a
// header, at ts.
func eventOf(offset int64, seqNr journal.SeqNr) journal.EventRecord {
	return journal.EventRecord{
		Event:           journal.Event{SeqNr: seqNr},
		Timestamp:       ts,
		PartitionOffset: journal.PartitionOffset{Partition: 0, Offset: offset},
		Metadata:        journal.RecordMetadata{Header: journal.HeaderMetadata{Data: json.RawMessage(`{"key":"value"}`)}},
		Headers:         journal.Headers{"key": "value"},
	}
}

func eventsOf(offset int64, seqNr journal.SeqNr, n int) []journal.EventRecord {
	var es []journal.EventRecord
	for i := 0; i < n; i++ {
		es = append(es, eventOf(offset+int64(i), seqNr+journal.SeqNr(i)))
	}
	return es
}

func readAll(tb testing.TB, st *cassandra.Store, key journal.Key, from journal.SeqNr) ([]journal.EventRecord, error) {
	tb.Helper()
	var out []journal.EventRecord
	for e, err := range st.Read(context.Background(), key, from) {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

func mustRead(tb testing.TB, st *cassandra.Store, key journal.Key, from journal.SeqNr) []journal.EventRecord {
	tb.Helper()
	es, err := readAll(tb, st, key, from)
	if err != nil {
		tb.Fatalf("read %s from %d: %v", key, from, err)
	}
	return es
}

func seqNrs(es []journal.EventRecord) []journal.SeqNr {
	out := []journal.SeqNr{}
	for _, e := range es {
		out = append(out, e.SeqNr)
	}
	return out
}

func assertEvents(tb testing.TB, got, want []journal.EventRecord) {
	tb.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("events:\n got %v\nwant %v\n(first got %+v\n first want %+v)", seqNrs(got), seqNrs(want), first(got), first(want))
	}
}

func first(es []journal.EventRecord) any {
	if len(es) == 0 {
		return nil
	}
	return es[0]
}

func mustAppend(tb testing.TB, st *cassandra.Store, key journal.Key, po journal.PartitionOffset, expireAfter time.Duration, es []journal.EventRecord) bool {
	tb.Helper()
	changed, err := st.Append(context.Background(), key, po, ts, expireAfter, es)
	if err != nil {
		tb.Fatalf("append %v to %s: %v", seqNrs(es), key, err)
	}
	return changed
}

// appendLast appends es at the offset of its last event (EventualJournalSpec.Replicated.append).
func appendLast(tb testing.TB, st *cassandra.Store, key journal.Key, es []journal.EventRecord) bool {
	tb.Helper()
	return mustAppend(tb, st, key, es[len(es)-1].PartitionOffset, 0, es)
}

func mustDelete(tb testing.TB, st *cassandra.Store, key journal.Key, offset int64, deleteTo journal.SeqNr) bool {
	tb.Helper()
	changed, err := st.Delete(context.Background(), key, journal.PartitionOffset{Offset: offset}, ts, deleteTo, "")
	if err != nil {
		tb.Fatalf("delete %s to %d: %v", key, deleteTo, err)
	}
	return changed
}

func mustHead(tb testing.TB, st *cassandra.Store, key journal.Key) (cassandra.Head, bool) {
	tb.Helper()
	h, ok, err := st.Head(context.Background(), key)
	if err != nil {
		tb.Fatalf("head %s: %v", key, err)
	}
	return h, ok
}

// assertPointer checks the head's partition offset and seqNr (the original's JournalPointer);
// offset < 0 means "no head".
func assertPointer(tb testing.TB, st *cassandra.Store, key journal.Key, offset int64, seqNr journal.SeqNr) {
	tb.Helper()
	h, ok := mustHead(tb, st, key)
	switch {
	case offset < 0 && ok:
		tb.Fatalf("pointer of %s = %v/%d, want none", key, h.PartitionOffset, h.SeqNr)
	case offset < 0:
	case !ok:
		tb.Fatalf("pointer of %s = none, want %d/%d", key, offset, seqNr)
	case h.PartitionOffset != (journal.PartitionOffset{Offset: offset}) || h.SeqNr != seqNr:
		tb.Fatalf("pointer of %s = %v/%d, want 0:%d/%d", key, h.PartitionOffset, h.SeqNr, offset, seqNr)
	}
	p, err := st.Pointer(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	if want := journal.SeqNr(0); offset >= 0 {
		want = seqNr
		if p != want {
			tb.Fatalf("Pointer(%s) = %d, want %d", key, p, want)
		}
	} else if p != want {
		tb.Fatalf("Pointer(%s) = %d, want 0", key, p)
	}
}

// TestEventualJournalSpec runs the original's EventualJournalSpec (journal/src/test/.../eventual)
// against real Cassandra, for segment sizes 2 (every other seqNr starts a segment) and the default.
func TestEventualJournalSpec(t *testing.T) {
	storeWith := journalKeyspace(t)
	for _, segmentSize := range []int{cassandra.MinSegmentSize, cassandra.DefaultSegmentSize} {
		t.Run(fmt.Sprintf("segmentSize=%d", segmentSize), func(t *testing.T) {
			st := storeWith(t, segmentSize)
			for _, seqNr := range []journal.SeqNr{1, 5, 10} {
				for _, size := range []int{0, 1, 2, 5, 10} {
					for _, batch := range []bool{true, false} {
						name := fmt.Sprintf("seqNr=%d,events=%d,batch=%v", seqNr, size, batch)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							eventualJournalCombination(t, st, seqNr, size, batch)
						})
					}
				}
			}
			t.Run("others", func(t *testing.T) {
				t.Parallel()
				eventualJournalOthers(t, st)
			})
		})
	}
}

func eventualJournalCombination(t *testing.T, st *cassandra.Store, seqNr journal.SeqNr, size int, batch bool) {
	events := eventsOf(0, seqNr, size)
	var pointerLast *journal.EventRecord
	if size > 0 {
		pointerLast = &events[size-1]
	}
	offsetNext := int64(0)
	if pointerLast != nil {
		offsetNext = pointerLast.Offset + 1
	}
	setup := func(t *testing.T) journal.Key {
		key := newKey()
		if batch {
			if size > 0 {
				appendLast(t, st, key, events)
			}
		} else {
			for _, e := range events {
				appendLast(t, st, key, []journal.EventRecord{e})
			}
		}
		return key
	}

	// read-only scenarios share one journal
	key := setup(t)
	assertEvents(t, mustRead(t, st, key, 1), events)
	seqNrsAll := []journal.SeqNr{journal.MinSeqNr, journal.MaxSeqNr}
	end := seqNr
	if pointerLast != nil {
		end = pointerLast.SeqNr
	}
	for s := seqNr; s <= end; s++ {
		if !slices.Contains(seqNrsAll, s) {
			seqNrsAll = append(seqNrsAll, s)
		}
	}
	for _, from := range seqNrsAll {
		var want []journal.EventRecord
		for _, e := range events {
			if e.SeqNr >= from {
				want = append(want, e)
			}
		}
		assertEvents(t, mustRead(t, st, key, from), want)
	}
	if pointerLast == nil {
		assertPointer(t, st, key, -1, 0)
	} else {
		assertPointer(t, st, key, pointerLast.Offset, pointerLast.SeqNr)
	}

	if pointerLast != nil {
		for _, n := range []int{1, 5} {
			key := setup(t)
			more := eventsOf(pointerLast.Offset+1, pointerLast.SeqNr+1, n)
			appendLast(t, st, key, more)
			assertEvents(t, mustRead(t, st, key, 1), append(slices.Clone(events), more...))
		}
	}

	for _, p := range events {
		deleteTo := p.SeqNr
		var expected []journal.EventRecord
		for _, e := range events {
			if e.SeqNr > deleteTo {
				expected = append(expected, e)
			}
		}
		// delete to p
		key := setup(t)
		mustDelete(t, st, key, offsetNext, deleteTo)
		assertEvents(t, mustRead(t, st, key, 1), expected)
		assertPointer(t, st, key, offsetNext, pointerLast.SeqNr)

		// delete to p and then append
		key = setup(t)
		mustDelete(t, st, key, offsetNext, deleteTo)
		assertEvents(t, mustRead(t, st, key, 1), expected)
		next := eventOf(offsetNext+1, pointerLast.SeqNr+1)
		appendLast(t, st, key, []journal.EventRecord{next})
		assertEvents(t, mustRead(t, st, key, 1), append(expected, next))
		assertPointer(t, st, key, next.Offset, next.SeqNr)
	}

	if pointerLast != nil {
		// deleteTo last and then deleteTo last again
		key := setup(t)
		mustDelete(t, st, key, offsetNext, pointerLast.SeqNr)
		assertEvents(t, mustRead(t, st, key, 1), nil)
		assertPointer(t, st, key, offsetNext, pointerLast.SeqNr)
		mustDelete(t, st, key, offsetNext+1, pointerLast.SeqNr)
		assertEvents(t, mustRead(t, st, key, 1), nil)
		assertPointer(t, st, key, offsetNext+1, pointerLast.SeqNr)
	}
}

func eventualJournalOthers(t *testing.T, st *cassandra.Store) {
	ctx := context.Background()

	t.Run("pointer2", func(t *testing.T) {
		for _, n := range []int{0, 1, 5} {
			prefix := testenv.Name("topic")
			var topics []string
			for i := 0; i <= n; i++ {
				topic := fmt.Sprintf("%s-%d", prefix, i)
				topics = append(topics, topic)
				if err := st.SavePointer2(ctx, topic, 1, 1, ts); err != nil {
					t.Fatal(err)
				}
			}
			for _, topic := range topics {
				if o, ok, err := st.Offset(ctx, topic, 1); err != nil || !ok || o != 1 {
					t.Fatalf("offset %s = %d,%v,%v; want 1", topic, o, ok, err)
				}
			}
			all, err := st.Topics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, topic := range topics {
				if _, found := slices.BinarySearch(all, topic); !found {
					t.Fatalf("topics %v lack %s", all, topic)
				}
			}
			if _, ok, err := st.Offset(ctx, prefix+"-unknown", 1); err != nil || ok {
				t.Fatalf("unknown topic: ok=%v err=%v", ok, err)
			}
		}
	})

	for _, deleteTo := range []journal.SeqNr{1, 2, 5} {
		t.Run(fmt.Sprintf("deleteTo %d on empty journal, then append", deleteTo), func(t *testing.T) {
			key := newKey()
			if !mustDelete(t, st, key, 1, deleteTo) {
				t.Fatal("delete on empty journal: not changed")
			}
			assertEvents(t, mustRead(t, st, key, 1), nil)
			assertPointer(t, st, key, 1, deleteTo)
			h, _ := mustHead(t, st, key)
			if h.DeleteTo != deleteTo || h.RecordID != nil || h.Expiry != nil {
				t.Fatalf("head %+v: want delete_to %d, no record_id, no expiry", h, deleteTo)
			}
			event := eventOf(2, deleteTo+1)
			appendLast(t, st, key, []journal.EventRecord{event})
			assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{event})
			assertPointer(t, st, key, event.Offset, event.SeqNr)
		})
	}

	t.Run("delete, append, delete, append, append, delete", func(t *testing.T) {
		key := newKey()
		assertEvents(t, mustRead(t, st, key, 1), nil)
		assertPointer(t, st, key, -1, 0)
		event1 := eventOf(2, 1)
		appendLast(t, st, key, []journal.EventRecord{event1})
		assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{event1})
		assertPointer(t, st, key, 2, 1)
		event2 := eventOf(3, 2)
		mustAppend(t, st, key, journal.PartitionOffset{Offset: 4}, 0, []journal.EventRecord{event2})
		assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{event1, event2})
		assertPointer(t, st, key, 4, 2)
		mustDelete(t, st, key, 5, event1.SeqNr)
		assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{event2})
		assertPointer(t, st, key, 5, 2)
		event3 := eventOf(6, 3)
		appendLast(t, st, key, []journal.EventRecord{event3})
		assertEvents(t, mustRead(t, st, key, 1), []journal.EventRecord{event2, event3})
		assertPointer(t, st, key, 6, 3)
		mustDelete(t, st, key, 7, event3.SeqNr)
		assertEvents(t, mustRead(t, st, key, 1), nil)
		assertPointer(t, st, key, 7, 3)
		mustDelete(t, st, key, 8, journal.MaxSeqNr)
		assertEvents(t, mustRead(t, st, key, 1), nil)
		assertPointer(t, st, key, 8, 3)
	})

	t.Run("append not from beginning", func(t *testing.T) {
		key := newKey()
		events := []journal.EventRecord{eventOf(10, 5), eventOf(10, 6), eventOf(10, 7)}
		appendLast(t, st, key, events)
		assertPointer(t, st, key, 10, 7)
		assertEvents(t, mustRead(t, st, key, journal.MinSeqNr), events)
		h, _ := mustHead(t, st, key)
		if h.DeleteTo != 4 || h.RecordID == nil {
			t.Fatalf("head %+v: want delete_to 4 and a record_id", h)
		}
	})

	t.Run("invalid arguments", func(t *testing.T) {
		key := newKey()
		if _, err := st.Append(ctx, key, journal.PartitionOffset{}, ts, 0, nil); !errors.Is(err, cassandra.ErrInvalidArgument) {
			t.Errorf("append without events: %v", err)
		}
		if _, err := st.Append(ctx, key, journal.PartitionOffset{}, ts, -time.Second, eventsOf(0, 1, 1)); !errors.Is(err, cassandra.ErrInvalidArgument) {
			t.Errorf("append with negative expireAfter: %v", err)
		}
		if _, err := st.Delete(ctx, key, journal.PartitionOffset{}, ts, 0, ""); !errors.Is(err, cassandra.ErrInvalidArgument) {
			t.Errorf("delete to 0: %v", err)
		}
		if _, err := readAll(t, st, key, 0); !errors.Is(err, cassandra.ErrInvalidArgument) {
			t.Errorf("read from 0: %v", err)
		}
	})
}
