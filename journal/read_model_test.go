package journal_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
)

// The read merge against a model, in the manner of the original's JournalSpec (research §9.1): every
// way to split 1..n into append batches, followed by deletes and purges, read back from every seqNr at
// every replication level (nothing replicated … everything replicated), with the head cache on and
// off, with and without duplicated Kafka records; and through one Journals while pointer2 moves from
// level to level, so that cached metajournal rows and pointer2 samples are reused across levels. The
// model is the plain meaning of the operations.

type op struct {
	kind   string // append, delete, purge
	events []journal.SeqNr
	to     journal.SeqNr
}

func appendOp(seqNrs ...journal.SeqNr) op { return op{kind: "append", events: seqNrs} }
func deleteOp(to journal.SeqNr) op        { return op{kind: "delete", to: to} }

var purgeOp = op{kind: "purge"}

type model struct {
	events  []journal.SeqNr
	pointer journal.SeqNr
}

func (m *model) apply(o op) {
	switch o.kind {
	case "append":
		m.events = append(m.events, o.events...)
		m.pointer = o.events[len(o.events)-1]
	case "delete":
		if m.pointer == 0 {
			return
		}
		to := min(o.to, m.pointer)
		m.events = slices.DeleteFunc(m.events, func(s journal.SeqNr) bool { return s <= to })
	case "purge":
		*m = model{}
	}
}

func (m *model) read(from journal.SeqNr) []journal.SeqNr {
	var out []journal.SeqNr
	for _, s := range m.events {
		if s >= from {
			out = append(out, s)
		}
	}
	return out
}

// splits returns every way to cut 1..n into consecutive non-empty batches.
func splits(n int) [][][]journal.SeqNr {
	if n == 0 {
		return [][][]journal.SeqNr{nil}
	}
	var out [][][]journal.SeqNr
	for mask := 0; mask < 1<<(n-1); mask++ {
		var batches [][]journal.SeqNr
		cur := []journal.SeqNr{1}
		for s := 2; s <= n; s++ {
			if mask&(1<<(s-2)) != 0 {
				batches = append(batches, cur)
				cur = nil
			}
			cur = append(cur, journal.SeqNr(s))
		}
		out = append(out, append(batches, cur))
	}
	return out
}

func scenarios() map[string][]op {
	out := map[string][]op{
		// research §9.1: "append 1, delete 3, append 2..3, delete 2, append 4", then purge.
		"interleaved":            {appendOp(1), deleteOp(3), appendOp(2, 3), deleteOp(2), appendOp(4)},
		"interleaved then purge": {appendOp(1), deleteOp(3), appendOp(2, 3), deleteOp(2), appendOp(4), purgeOp},
		"not starting at 1":      {appendOp(5, 6, 7)},
		"delete on empty":        {deleteOp(3)},
		"purge on empty":         {purgeOp},
		"purge then append":      {appendOp(1, 2, 3), purgeOp, appendOp(1, 2)},
		"purge delete append":    {appendOp(1, 2, 3), purgeOp, appendOp(1), deleteOp(1), appendOp(2)},
	}
	for n := 1; n <= 5; n++ {
		for _, batches := range splits(n) {
			var appends []op
			for _, b := range batches {
				appends = append(appends, appendOp(b...))
			}
			name := fmt.Sprint(batches)
			out[name] = appends
			with := func(suffix string, ops ...op) { out[name+suffix] = append(slices.Clone(appends), ops...) }
			with(" delete last", deleteOp(journal.SeqNr(n)))
			with(" delete max", deleteOp(journal.MaxSeqNr))
			with(" delete min", deleteOp(journal.MinSeqNr))
			with(" purge", purgeOp)
			with(" purge append", purgeOp, appendOp(1, 2))
			if n >= 2 {
				with(" delete all but last", deleteOp(journal.SeqNr(n-1)))
			}
		}
	}
	return out
}

func TestJournal_ReadModel(t *testing.T) {
	ctx := context.Background()
	for name, ops := range scenarios() {
		for _, dup := range []bool{false, true} {
			for _, replicateEach := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/dup=%v/replicated=%v", name, dup, replicateEach), func(t *testing.T) {
					checkScenario(ctx, t, ops, dup, replicateEach)
				})
			}
		}
	}
}

func checkScenario(ctx context.Context, t *testing.T, ops []op, dup, replicateEach bool) {
	log := &journaltest.Log{NumPartitions: 2, Duplicate: dup}
	key := journal.Key{Topic: "journal", ID: "id"}
	other := journal.Key{Topic: "journal", ID: "other"}
	ev := &journaltest.Eventual{}
	js := newJournals(t, log, ev, true)
	var m model
	var partition int32 = -1
	for i, o := range ops {
		j := js.Journal(key)
		var po journal.PartitionOffset
		var err error
		switch o.kind {
		case "append":
			po, err = j.Append(ctx, events(o.events...), journal.AppendOptions{})
		case "delete":
			var ok bool
			po, ok, err = j.Delete(ctx, o.to)
			if !ok && m.pointer > 0 {
				t.Fatalf("op %d: delete(%d) did nothing with pointer %d", i, o.to, m.pointer)
			}
		case "purge":
			po, err = j.Purge(ctx)
		}
		if err != nil {
			t.Fatalf("op %d %s: %v", i, o.kind, err)
		}
		if o.kind != "delete" || po != (journal.PartitionOffset{}) {
			partition = po.Partition
		}
		// Another journal's actions interleave in the same partitions.
		if _, err := js.Journal(other).Append(ctx, events(journal.SeqNr(i+1)), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		m.apply(o)
		if replicateEach && partition >= 0 {
			recs := log.Records(key.Topic, partition)
			if err := ev.Replicate(log, key.Topic, partition, recs[len(recs)-1].Offset); err != nil {
				t.Fatal(err)
			}
		}
	}
	if partition < 0 {
		po, err := js.Journal(key).Mark(ctx, "find-partition")
		if err != nil {
			t.Fatal(err)
		}
		partition = po.Partition
	}
	records := log.Records(key.Topic, partition)
	for _, cache := range []bool{false, true} {
		checkMoving(ctx, t, log, key, partition, len(records), &m, cache)
	}
	maxSeq := journal.SeqNr(8)
	for level := int64(-1); level < int64(len(records)); level++ {
		for _, cache := range []bool{false, true} {
			ev := &journaltest.Eventual{}
			if err := ev.Replicate(log, key.Topic, partition, level); err != nil {
				t.Fatal(err)
			}
			js := newJournals(t, log, ev, cache)
			j := js.Journal(key)
			for from := journal.SeqNr(1); from <= maxSeq; from++ {
				s, err := j.Read(ctx, from)
				if err != nil {
					t.Fatalf("level %d cache %v: read(%d): %v", level, cache, from, err)
				}
				var got []journal.SeqNr
				for e, err := range s.Events(ctx) {
					if err != nil {
						t.Fatalf("level %d cache %v: read(%d): %v", level, cache, from, err)
					}
					got = append(got, e.SeqNr)
				}
				if want := m.read(from); !slices.Equal(got, want) {
					t.Fatalf("replicated up to %d, cache %v: read(%d) = %v, want %v", level, cache, from, got, want)
				}
				if s.HighestSeqNr() != m.pointer {
					t.Fatalf("replicated up to %d, cache %v: read(%d) highest = %d, want %d", level, cache, from, s.HighestSeqNr(), m.pointer)
				}
			}
			p, ok, err := j.Pointer(ctx)
			if err != nil || p != m.pointer || ok != (m.pointer > 0) {
				t.Fatalf("replicated up to %d, cache %v: pointer = %d %v %v, want %d", level, cache, p, ok, err, m.pointer)
			}
		}
	}
}

// checkMoving reads the journal again and again through one Journals while pointer2 moves forward
// between the reads, one record at a time: the cached metajournal rows and pointer2 samples (and the
// head cache, polling pointer2 every millisecond) are reused across replication levels, and every read
// must still be the model's.
func checkMoving(ctx context.Context, t *testing.T, log *journaltest.Log, key journal.Key, partition int32, records int, m *model, cache bool) {
	ev := &journaltest.Eventual{}
	js, err := journal.New(journal.Config{Log: log, Eventual: ev, Pointer2TTL: time.Nanosecond,
		HeadCache: journal.HeadCacheConfig{Disabled: !cache, PollInterval: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close(ctx)
	j := js.Journal(key)
	for level := int64(-1); level < int64(records); level++ {
		if err := ev.Replicate(log, key.Topic, partition, level); err != nil {
			t.Fatal(err)
		}
		for _, from := range []journal.SeqNr{1, 2, 4} {
			s, err := j.Read(ctx, from)
			if err != nil {
				t.Fatalf("moving, level %d cache %v: read(%d): %v", level, cache, from, err)
			}
			var got []journal.SeqNr
			for e, err := range s.Events(ctx) {
				if err != nil {
					t.Fatalf("moving, level %d cache %v: read(%d): %v", level, cache, from, err)
				}
				got = append(got, e.SeqNr)
			}
			if want := m.read(from); !slices.Equal(got, want) || s.HighestSeqNr() != m.pointer {
				t.Fatalf("moving, replicated up to %d, cache %v: read(%d) = %v highest %d, want %v highest %d",
					level, cache, from, got, s.HighestSeqNr(), want, m.pointer)
			}
		}
	}
}

func events(seqNrs ...journal.SeqNr) []journal.Event {
	out := make([]journal.Event, len(seqNrs))
	for i, s := range seqNrs {
		out[i] = journal.Event{SeqNr: s, Payload: journal.TextPayload(fmt.Sprintf("e%d", s))}
	}
	return out
}

func newJournals(t testing.TB, log journal.Log, ev journal.Eventual, cache bool) *journal.Journals {
	t.Helper()
	js, err := journal.New(journal.Config{Log: log, Eventual: ev, HeadCache: journal.HeadCacheConfig{Disabled: !cache}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.Close(context.Background()) })
	return js
}

// TestJournal_PointerCache: Cassandra's pointer is reused while pointer2 stands still, and never after
// another process's action was replicated (here a purge by a second Journals, as the replicator's
// expiry job would emit).
func TestJournal_PointerCache(t *testing.T) {
	ctx := context.Background()
	log := &journaltest.Log{NumPartitions: 1}
	ev := &journaltest.Eventual{}
	reg := prometheus.NewRegistry()
	js, err := journal.New(journal.Config{Log: log, Eventual: ev, Registerer: reg, HeadCache: journal.HeadCacheConfig{Disabled: true}, Pointer2TTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close(ctx)
	key := journal.Key{Topic: "journal", ID: "a"}
	replicateAll := func() {
		recs := log.Records(key.Topic, 0)
		if err := ev.Replicate(log, key.Topic, 0, recs[len(recs)-1].Offset); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Journal(key).Append(ctx, events(1, 2, 3), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	replicateAll()
	pointer := func(want journal.SeqNr) {
		t.Helper()
		if p, _, err := js.Journal(key).Pointer(ctx); err != nil || p != want {
			t.Fatalf("pointer = %d, %v; want %d", p, err, want)
		}
	}
	pointer(3) // miss: pointer2 is now behind the marker we just wrote, so the fold covers it
	pointer(3)
	pointer(3)
	other := newJournals(t, log, ev, false)
	if _, err := other.Journal(key).Purge(ctx); err != nil {
		t.Fatal(err)
	}
	replicateAll()
	pointer(0)
	if hits := counterWith(t, reg, "kjournal_journal_pointer_cache_total", "hit"); hits < 1 {
		t.Errorf("pointer cache hits = %v, want >= 1", hits)
	}
}

func counterWith(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	var sum float64
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestJournal_RowCacheOnBusyPartition: with the head cache, a journal's cached metajournal row keeps
// being used while other journals of its partition move pointer2 on, and stops being used once an
// action of the journal itself (another process's purge) is replicated.
func TestJournal_RowCacheOnBusyPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		log := &journaltest.Log{NumPartitions: 1}
		ev := &journaltest.Eventual{}
		js, reg := newCachedJournals(t, log, ev, journal.HeadCacheConfig{PollInterval: 10 * time.Millisecond})
		defer js.Close(ctx)
		a := js.Journal(journal.Key{Topic: "journal", ID: "a"})
		b := js.Journal(journal.Key{Topic: "journal", ID: "b"})
		replicateAll := func() { t.Helper(); replicateAndPoll(t, log, ev) }
		if _, err := a.Append(ctx, events(1, 2, 3), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		replicateAll()
		if got := readSeqNrs(t, ctx, a); !slices.Equal(got, []journal.SeqNr{1, 2, 3}) {
			t.Fatalf("read %v, want [1 2 3]", got)
		}
		misses := counterWith(t, reg, "kjournal_journal_pointer_cache_total", "miss")
		for s := journal.SeqNr(1); s <= 5; s++ {
			if _, err := b.Append(ctx, events(s), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			replicateAll()
			if got := readSeqNrs(t, ctx, a); !slices.Equal(got, []journal.SeqNr{1, 2, 3}) {
				t.Fatalf("read %v, want [1 2 3]", got)
			}
		}
		if n := counterWith(t, reg, "kjournal_journal_pointer_cache_total", "miss"); n != misses {
			t.Errorf("row lookups while only b moved pointer2: %v, want none", n-misses)
		}
		other, err := journal.New(journal.Config{Log: log, Eventual: ev, HeadCache: journal.HeadCacheConfig{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(ctx)
		if _, err := other.Journal(a.Key()).Purge(ctx); err != nil {
			t.Fatal(err)
		}
		replicateAll()
		if got := readSeqNrs(t, ctx, a); len(got) != 0 {
			t.Errorf("read after a replicated purge = %v, want nothing", got)
		}
		if n := counterWith(t, reg, "kjournal_journal_pointer_cache_total", "miss"); n == misses {
			t.Error("the row was reused after the journal's own purge was replicated")
		}
	})
}
