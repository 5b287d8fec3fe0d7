package journal_test

// Integration tests of the journal library on the real stack: Kafka (journal/kafka) and Cassandra
// (journal/cassandra). Cassandra is filled by replicateTo below, a minimal replicator built on the
// store's write side, so these tests do not depend on the replicator package.

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
)

type realStack struct {
	log   *kafka.Log
	store *cassandra.Store
	topic string
}

func newRealStack(t *testing.T) *realStack {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	hosts := testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log, err := kafka.New(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatalf("kafka: %v", err)
	}
	t.Cleanup(func() { _ = log.Close() })
	ks := testenv.Name("ks")
	store, err := cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: ks})
	if err != nil {
		t.Fatalf("cassandra: %v", err)
	}
	t.Cleanup(func() {
		_ = store.Session().Query("DROP KEYSPACE IF EXISTS " + ks).Exec()
		_ = store.Close()
	})
	return &realStack{log: log, store: store, topic: testenv.Name("it")}
}

func (s *realStack) journals(t *testing.T, cache bool) *journal.Journals {
	t.Helper()
	return newJournals(t, s.log, s.store, cache)
}

// replicateTo applies the actions of ids with offsets <= upTo (per partition; a missing partition
// means "everything now in Kafka") to Cassandra, one action at a time, and saves pointer2. ids must be
// every journal written to the topic.
func (s *realStack) replicateTo(t *testing.T, js *journal.Journals, ids []string, upTo map[int32]int64) {
	t.Helper()
	ctx := context.Background()
	ends := map[int32]int64{}
	for _, id := range ids {
		po, err := js.Journal(journal.Key{Topic: s.topic, ID: id}).Mark(ctx, "replicate")
		if err != nil {
			t.Fatal(err)
		}
		end := po.Offset
		if o, ok := upTo[po.Partition]; ok {
			end = o
		}
		ends[po.Partition] = max(ends[po.Partition], end)
		key := journal.Key{Topic: s.topic, ID: id}
		err = s.log.Scan(ctx, s.topic, po.Partition, 0, end, id, func(r journal.ActionRecord) error {
			now := time.Now()
			switch h := r.Header.(type) {
			case *journal.AppendHeader:
				events, md, err := journal.DecodeEvents(r.Value, h.PayloadType)
				if err != nil {
					return err
				}
				recs := make([]journal.EventRecord, len(events))
				for i, e := range events {
					recs[i] = journal.EventRecord{Event: e, Timestamp: r.Timestamp, PartitionOffset: r.PartitionOffset,
						Origin: h.Origin, Version: h.Version, Metadata: journal.RecordMetadata{Header: h.Metadata, Payload: md}, Headers: r.Headers}
				}
				_, err = s.store.Append(ctx, key, r.PartitionOffset, now, md.ExpireAfter, recs)
				return err
			case *journal.DeleteHeader:
				_, err := s.store.Delete(ctx, key, r.PartitionOffset, now, h.To, h.Origin)
				return err
			case *journal.PurgeHeader:
				_, err := s.store.Purge(ctx, key, r.PartitionOffset, now)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatalf("replicate %s: %v", id, err)
		}
	}
	for p, o := range ends {
		if err := s.store.SavePointer2(ctx, s.topic, p, o, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// replay is an Akka replay on this API: read from `from`, stop after `to` or `max` events, and report
// the highest seqNr the read's end carries.
func replay(t *testing.T, j journal.Journal, from, to journal.SeqNr, maxCount int) ([]journal.SeqNr, journal.SeqNr) {
	t.Helper()
	ctx := context.Background()
	var got []journal.SeqNr
	s, err := j.Read(ctx, max(from, journal.MinSeqNr))
	if err != nil {
		t.Fatalf("read %s from %d: %v", j.Key(), from, err)
	}
	if maxCount > 0 && from <= to {
		for e, err := range s.Events(ctx) {
			if err != nil {
				t.Fatalf("read %s from %d: %v", j.Key(), from, err)
			}
			if e.SeqNr > to {
				break
			}
			got = append(got, e.SeqNr)
			if len(got) == maxCount {
				break
			}
		}
	}
	return got, s.HighestSeqNr()
}

func seqs(ss ...journal.SeqNr) []journal.SeqNr { return ss }

// TestJournal_TCK runs the Akka/Pekko JournalSpec replay cases (research/tck.md §1.2, with the Pekko
// additions and the optional replay-window case) with the journal wholly in Kafka, wholly in Cassandra
// and split between them, with the head cache on and off.
func TestJournal_TCK(t *testing.T) {
	s := newRealStack(t)
	ctx := context.Background()
	const maxInt = int(^uint(0) >> 1)
	M := journal.MaxSeqNr
	type replayCase struct {
		name     string
		from, to journal.SeqNr
		max      int
		want     []journal.SeqNr
	}
	before := []replayCase{
		{"replay all messages", 1, M, maxInt, seqs(1, 2, 3, 4, 5)},
		{"lower bound", 3, M, maxInt, seqs(3, 4, 5)},
		{"upper bound", 1, 3, maxInt, seqs(1, 2, 3)},
		{"count limit", 1, M, 3, seqs(1, 2, 3)},
		{"lower and upper bound", 2, 3, maxInt, seqs(2, 3)},
		{"bounds and count limit", 2, 5, 2, seqs(2, 3)},
		{"single if lower equals upper", 2, 2, maxInt, seqs(2)},
		{"single if count limit 1", 2, 4, 1, seqs(2)},
		{"none if count limit 0", 2, 4, 0, nil},
		{"none if lower above upper", 3, 2, maxInt, nil},
		{"highest without replaying", 0, 0, 1, nil},
	}
	afterDelete3 := []replayCase{
		{"not replay permanently deleted", 1, M, maxInt, seqs(4, 5)},
		{"lower bound equals last deleted", 3, M, maxInt, seqs(4, 5)},
		{"upper bound within deleted prefix", 1, 2, maxInt, nil},
		{"upper bound equals last deleted", 1, 3, maxInt, nil},
		{"lower bound is first surviving", 4, M, maxInt, seqs(4, 5)},
		{"window spans deleted prefix", 1, 4, maxInt, seqs(4)},
	}
	for _, mode := range []string{"kafka", "cassandra", "split"} {
		for _, cache := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cache=%v", mode, cache), func(t *testing.T) {
				js := s.journals(t, cache)
				id := testenv.Name("p")
				j := js.Journal(journal.Key{Topic: s.topic, ID: id})
				for _, batch := range [][]journal.SeqNr{{1}, {2}, {3}, {4, 5}} {
					if _, err := j.Append(ctx, events(batch...), journal.AppendOptions{}); err != nil {
						t.Fatal(err)
					}
					if mode == "split" && batch[0] == 2 {
						s.replicateTo(t, js, []string{id}, nil)
					}
				}
				if mode == "cassandra" {
					s.replicateTo(t, js, []string{id}, nil)
				}
				for _, c := range before {
					got, highest := replay(t, j, c.from, c.to, c.max)
					if !slices.Equal(got, c.want) || highest != 5 {
						t.Errorf("%s: got %v highest %d, want %v highest 5", c.name, got, highest, c.want)
					}
				}
				if got, highest := replay(t, js.Journal(journal.Key{Topic: s.topic, ID: testenv.Name("non-existing")}), 0, M, maxInt); got != nil || highest != 0 {
					t.Errorf("non-existing journal: got %v highest %d", got, highest)
				}
				if _, ok, err := j.Delete(ctx, 3); err != nil || !ok {
					t.Fatalf("delete to 3: ok=%v err=%v", ok, err)
				}
				if mode == "cassandra" {
					s.replicateTo(t, js, []string{id}, nil)
				}
				for _, c := range afterDelete3 {
					got, highest := replay(t, j, c.from, c.to, c.max)
					if !slices.Equal(got, c.want) || highest != 5 {
						t.Errorf("%s: got %v highest %d, want %v highest 5", c.name, got, highest, c.want)
					}
				}
				// "not reset highestSequenceNr after journal cleanup"
				if _, ok, err := j.Delete(ctx, M); err != nil || !ok {
					t.Fatalf("delete to max: ok=%v err=%v", ok, err)
				}
				if mode == "cassandra" {
					s.replicateTo(t, js, []string{id}, nil)
				}
				if got, highest := replay(t, j, 1, M, maxInt); got != nil || highest != 5 {
					t.Errorf("after delete to max: got %v highest %d, want none highest 5", got, highest)
				}
				// The journal stays usable after deleting everything.
				if _, err := j.Append(ctx, events(6), journal.AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				if got, highest := replay(t, j, 1, M, maxInt); !slices.Equal(got, seqs(6)) || highest != 6 {
					t.Errorf("append after delete to max: got %v highest %d, want [6] highest 6", got, highest)
				}
				if _, err := j.Purge(ctx); err != nil {
					t.Fatal(err)
				}
				if mode == "cassandra" {
					s.replicateTo(t, js, []string{id}, nil)
				}
				if got, highest := replay(t, j, 1, M, maxInt); got != nil || highest != 0 {
					t.Errorf("after purge: got %v highest %d", got, highest)
				}
				if p, ok, err := j.Pointer(ctx); err != nil || ok {
					t.Errorf("pointer after purge = %d %v %v, want none", p, ok, err)
				}
			})
		}
	}
}

// TestJournal_ReadsExactRecord checks every field of a read record from Kafka and from Cassandra.
func TestJournal_ReadsExactRecord(t *testing.T) {
	s := newRealStack(t)
	ctx := context.Background()
	js := s.journals(t, true)
	id := testenv.Name("rec")
	j := js.Journal(journal.Key{Topic: s.topic, ID: id})
	in := []journal.Event{
		{SeqNr: 1, Tags: []string{"a", "b"}, Payload: journal.JSONPayload([]byte(`{"k":[1,2]}`))},
		{SeqNr: 2, Payload: journal.BinaryPayload([]byte{0, 1, 2})},
		{SeqNr: 3, Payload: journal.TextPayload("three")},
		{SeqNr: 4},
	}
	po, err := j.Append(ctx, in, journal.AppendOptions{ExpireAfter: 24 * time.Hour, Metadata: []byte(`{"m":1}`), Headers: journal.Headers{"h": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string) {
		st, err := j.Read(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got []journal.EventRecord
		for e, err := range st.Events(ctx) {
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			got = append(got, e)
		}
		if len(got) != len(in) {
			t.Fatalf("%s: %d events, want %d", where, len(got), len(in))
		}
		for i, r := range got {
			w := in[i]
			if r.SeqNr != w.SeqNr || !slices.Equal(r.Tags, w.Tags) || r.Payload.Type != w.Payload.Type || string(r.Payload.Data) != string(w.Payload.Data) {
				t.Errorf("%s: event %d = %+v, want %+v", where, i, r.Event, w)
			}
			if r.PartitionOffset != po || r.Origin == "" || r.Version != journal.Version || r.Headers["h"] != "v" ||
				string(r.Metadata.Header.Data) != `{"m":1}` || r.Metadata.Payload.ExpireAfter != 24*time.Hour || r.Timestamp.IsZero() {
				t.Errorf("%s: record %d context = %+v (partition offset %v)", where, i, r, po)
			}
		}
	}
	check("kafka")
	s.replicateTo(t, js, []string{id}, nil)
	check("cassandra")
}

// TestJournal_SplitAndDuplicates: a 1,000-event journal half in Cassandra and half in Kafka, with a
// duplicated Kafka record (a producer retry) in the tail, reads back exactly once each, from every
// start.
func TestJournal_SplitAndDuplicates(t *testing.T) {
	s := newRealStack(t)
	ctx := context.Background()
	js := s.journals(t, true)
	id := testenv.Name("big")
	key := journal.Key{Topic: s.topic, ID: id}
	j := js.Journal(key)
	var half journal.PartitionOffset
	for b := range 10 {
		var batch []journal.SeqNr
		for i := range 100 {
			batch = append(batch, journal.SeqNr(b*100+i+1))
		}
		po, err := j.Append(ctx, events(batch...), journal.AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b == 4 {
			half = po
		}
		if b == 7 {
			// The same Append again right after it, as a producer retry would write it.
			value, pt, err := journal.EncodeEvents(events(batch...), journal.PayloadMetadata{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.log.Produce(ctx, journal.Action{Key: key, Timestamp: time.Now(), Value: value,
				Header: &journal.AppendHeader{Range: journal.SeqRange{From: batch[0], To: batch[len(batch)-1]}, PayloadType: pt}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.replicateTo(t, js, []string{id}, map[int32]int64{half.Partition: half.Offset})
	for _, cache := range []bool{true, false} {
		j := s.journals(t, cache).Journal(key)
		for _, from := range []journal.SeqNr{1, 2, 499, 500, 501, 502, 900, 999, 1000, 1001} {
			got, highest := replay(t, j, from, journal.MaxSeqNr, 1<<30)
			var want []journal.SeqNr
			for x := from; x <= 1000; x++ {
				want = append(want, x)
			}
			if !slices.Equal(got, want) || highest != 1000 {
				t.Fatalf("cache %v, from %d: %d events (first %v) highest %d; want %d events highest 1000",
					cache, from, len(got), got[:min(3, len(got))], highest, len(want))
			}
		}
	}
}

// TestJournal_HeadCacheSharesOneConsumer: 200 concurrent reads of different journals on one topic open
// one shared consumer and read what reads with the cache off read.
func TestJournal_HeadCacheSharesOneConsumer(t *testing.T) {
	s := newRealStack(t)
	ctx := context.Background()
	writer := s.journals(t, false)
	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", testenv.Name("j"), i)
	}
	// Every journal gets [1,2] [3,4] [5,6]; the first two batches are replicated, the third and a
	// delete of every third journal are not, so reads merge Cassandra and Kafka.
	write := func(batches [][]journal.SeqNr, del bool) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := writer.Journal(journal.Key{Topic: s.topic, ID: id})
				for _, b := range batches {
					if _, err := j.Append(ctx, events(b...), journal.AppendOptions{}); err != nil {
						errs <- err
						return
					}
				}
				if del && i%3 == 0 {
					if _, _, err := j.Delete(ctx, 2); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	write([][]journal.SeqNr{{1, 2}, {3, 4}}, false)
	s.replicateTo(t, writer, ids, nil)
	write([][]journal.SeqNr{{5, 6}}, true)

	readAll := func(js *journal.Journals) map[string][]journal.SeqNr {
		out := make(map[string][]journal.SeqNr, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, highest := replay(t, js.Journal(journal.Key{Topic: s.topic, ID: id}), 1, journal.MaxSeqNr, 1<<30)
				if highest != 6 {
					t.Errorf("%s: highest %d, want 6", id, highest)
				}
				mu.Lock()
				out[id] = got
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	// A fresh Log per mode, so its consumer counters count this mode only.
	log, err := kafka.New(kafka.Config{Brokers: testenv.KafkaBrokers(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cached := readAll(newJournals(t, log, s.store, true))
	if f := log.ConsumersOpened(kafka.PurposeFollow); f != 1 {
		t.Errorf("head cache opened %d follow consumers, want 1", f)
	}
	t.Logf("cache on: follow consumers %d, scan consumers %d", log.ConsumersOpened(kafka.PurposeFollow), log.ConsumersOpened(kafka.PurposeScan))
	uncached := readAll(s.journals(t, false))
	for _, id := range ids {
		if !slices.Equal(cached[id], uncached[id]) {
			t.Errorf("%s: cache on %v, off %v", id, cached[id], uncached[id])
		}
	}
	if got := cached[ids[0]]; !slices.Equal(got, seqs(3, 4, 5, 6)) {
		t.Errorf("%s: %v, want [3 4 5 6]", ids[0], got)
	}
}

// TestJournal_NewIDOnBusyTopic: a journal never written recovers empty, quickly, on a topic others use.
func TestJournal_NewIDOnBusyTopic(t *testing.T) {
	s := newRealStack(t)
	ctx := context.Background()
	js := s.journals(t, true)
	for i := range 50 {
		if _, err := js.Journal(journal.Key{Topic: s.topic, ID: fmt.Sprint("busy-", i)}).Append(ctx, events(1, 2, 3), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, highest := replay(t, js.Journal(journal.Key{Topic: s.topic, ID: testenv.Name("fresh")}), 1, journal.MaxSeqNr, 1<<30)
	if got != nil || highest != 0 {
		t.Errorf("fresh journal: %v highest %d", got, highest)
	}
}

// TestJournal_StalledStreamsHoldNoConsumer: 100 reads of unreplicated tails that take one event and
// stall (a client granting no more credit) hold neither a pooled scan consumer nor a fetched batch, so
// reads of other journals go on, on a pool of 4 consumers, with the head cache off (every read scans).
func TestJournal_StalledStreamsHoldNoConsumer(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	s := newRealStack(t)
	log, err := kafka.New(kafka.Config{Brokers: brokers, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	js := newJournals(t, log, s.store, false)
	ctx := context.Background()
	const stalled = 100
	ids := make([]string, stalled+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", testenv.Name("stall"), i)
		for seq := journal.SeqNr(1); seq <= 3; seq++ {
			if _, err := js.Journal(journal.Key{Topic: s.topic, ID: ids[i]}).Append(ctx, events(seq), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range ids[:stalled] {
		st, err := js.Journal(journal.Key{Topic: s.topic, ID: id}).Read(ctx, 1)
		if err != nil {
			t.Fatalf("read %s with %d streams stalled: %v", id, stalled, err)
		}
		next, stop := iter.Pull2(st.Events(ctx))
		defer stop()
		if e, err, ok := next(); !ok || err != nil || e.SeqNr != 1 {
			t.Fatalf("first event of %s: %v %v %v", id, e.SeqNr, err, ok)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Journal(journal.Key{Topic: s.topic, ID: ids[stalled]}).Read(rctx, 1)
	if err != nil {
		t.Fatalf("read of another journal beside %d stalled streams: %v", stalled, err)
	}
	var got []journal.SeqNr
	for e, err := range st.Events(rctx) {
		if err != nil {
			t.Fatalf("read of another journal beside %d stalled streams: %v", stalled, err)
		}
		got = append(got, e.SeqNr)
	}
	if !slices.Equal(got, seqs(1, 2, 3)) || st.HighestSeqNr() != 3 {
		t.Fatalf("read of another journal beside %d stalled streams = %v (highest %d), want [1 2 3]", stalled, got, st.HighestSeqNr())
	}
}
