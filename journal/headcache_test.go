package journal_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
)

// stalledLog never delivers anything to the head cache's follower, as a consumer stuck on a dead
// broker would.
type stalledLog struct{ *journaltest.Log }

func (stalledLog) Follow(ctx context.Context, _ string, _ map[int32]int64, _ func(int32, []journal.LogRecord)) error {
	<-ctx.Done()
	return ctx.Err()
}

func readSeqNrs(t *testing.T, ctx context.Context, j journal.Journal) []journal.SeqNr {
	t.Helper()
	s, err := j.Read(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []journal.SeqNr
	for e, err := range s.Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.SeqNr)
	}
	return out
}

func newCachedJournals(t *testing.T, log journal.Log, ev journal.Eventual, hc journal.HeadCacheConfig) (*journal.Journals, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	js, err := journal.New(journal.Config{Log: log, Eventual: ev, HeadCache: hc, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return js, reg
}

// TestHeadCache_Timeout: when the shared consumer does not reach a read's marker within the timeout, the
// read scans Kafka itself, after exactly the timeout, and still returns the right events.
func TestHeadCache_Timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		log := &journaltest.Log{NumPartitions: 1}
		js, reg := newCachedJournals(t, stalledLog{log}, &journaltest.Eventual{}, journal.HeadCacheConfig{Timeout: 2 * time.Second})
		defer js.Close(ctx)
		j := js.Journal(journal.Key{Topic: "journal", ID: "a"})
		if _, err := j.Append(ctx, events(1, 2, 3), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := readSeqNrs(t, ctx, j)
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("read took %v of fake time, want the 2s timeout", waited)
		}
		if !slices.Equal(got, []journal.SeqNr{1, 2, 3}) {
			t.Errorf("read %v, want [1 2 3]", got)
		}
		if n := counterWith(t, reg, "kjournal_headcache_results_total", "timeout"); n != 1 {
			t.Errorf("timeouts = %v, want 1", n)
		}
		if log.Scans() == 0 {
			t.Error("the read did not fall back to its own scan")
		}
	})
}

// TestHeadCache_Eviction: with a tiny bound the oldest actions are evicted; reads needing an evicted
// action scan Kafka themselves and stay exact, reads of journals with nothing evicted are answered by
// the index.
func TestHeadCache_Eviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		log := &journaltest.Log{NumPartitions: 1}
		js, reg := newCachedJournals(t, log, &journaltest.Eventual{}, journal.HeadCacheConfig{MaxActions: 4})
		defer js.Close(ctx)
		a := js.Journal(journal.Key{Topic: "journal", ID: "a"})
		b := js.Journal(journal.Key{Topic: "journal", ID: "b"})
		for s := journal.SeqNr(1); s <= 10; s++ {
			if _, err := a.Append(ctx, events(s), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Append(ctx, events(1), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		scans := log.Scans()
		if got := readSeqNrs(t, ctx, a); !slices.Equal(got, []journal.SeqNr{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
			t.Errorf("a read %v, want 1..10", got)
		}
		if n := counterWith(t, reg, "kjournal_headcache_results_total", "limited"); n < 1 {
			t.Errorf("limited answers = %v, want >= 1", n)
		}
		if log.Scans() == scans {
			t.Error("a read of an evicted range did not scan")
		}
		// b's range (nothing replicated: from offset 0) reaches below the evicted offsets too, but none of
		// b's actions was evicted: the index answers it, exactly, without a scan.
		scans = log.Scans()
		if got := readSeqNrs(t, ctx, b); !slices.Equal(got, []journal.SeqNr{1}) {
			t.Errorf("b read %v, want [1]", got)
		}
		if n := counterWith(t, reg, "kjournal_headcache_results_total", "limited"); n != 1 {
			t.Errorf("limited answers = %v, want 1", n)
		}
		if log.Scans() != scans {
			t.Error("a read of a journal with nothing evicted scanned")
		}
	})
}

// TestHeadCache_TrimsReplicated: once pointer2 passes the journal's actions, the index drops them and
// reads see the head as empty (Cassandra has everything).
func TestHeadCache_TrimsReplicated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		log := &journaltest.Log{NumPartitions: 1}
		ev := &journaltest.Eventual{}
		js, reg := newCachedJournals(t, log, ev, journal.HeadCacheConfig{PollInterval: 100 * time.Millisecond})
		defer js.Close(ctx)
		j := js.Journal(journal.Key{Topic: "journal", ID: "a"})
		if _, err := j.Append(ctx, events(1), journal.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		// The first read of a topic with records starts its cache.
		if got := readSeqNrs(t, ctx, j); !slices.Equal(got, []journal.SeqNr{1}) {
			t.Fatalf("read %v, want [1]", got)
		}
		for s := journal.SeqNr(2); s <= 3; s++ {
			if _, err := j.Append(ctx, events(s), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if n := gaugeValue(t, reg, "kjournal_headcache_actions"); n != 3 {
			t.Errorf("indexed actions = %v, want 3", n)
		}
		recs := log.Records("journal", 0)
		if err := ev.Replicate(log, "journal", 0, recs[len(recs)-1].Offset); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // one poll
		synctest.Wait()
		if n := gaugeValue(t, reg, "kjournal_headcache_actions"); n != 0 {
			t.Errorf("indexed actions after replication = %v, want 0", n)
		}
		if got := readSeqNrs(t, ctx, j); !slices.Equal(got, []journal.SeqNr{1, 2, 3}) {
			t.Errorf("read %v, want [1 2 3]", got)
		}
	})
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// pausableLog delivers to the head cache's follower only while not paused, as a follower that fell
// behind pointer2 would.
type pausableLog struct {
	*journaltest.Log
	mu     sync.Mutex
	resume chan struct{} // nil while delivering; closed to resume
}

func (l *pausableLog) pause() { l.mu.Lock(); l.resume = make(chan struct{}); l.mu.Unlock() }

func (l *pausableLog) unpause() { l.mu.Lock(); close(l.resume); l.resume = nil; l.mu.Unlock() }

func (l *pausableLog) Follow(ctx context.Context, topic string, from map[int32]int64, fn func(int32, []journal.LogRecord)) error {
	return l.Log.Follow(ctx, topic, from, func(p int32, batch []journal.LogRecord) {
		l.mu.Lock()
		resume := l.resume
		l.mu.Unlock()
		if resume != nil {
			select {
			case <-resume:
			case <-ctx.Done():
				return
			}
		}
		fn(p, batch)
	})
}

// TestHeadCache_RowCacheFollowerBehind: when pointer2 passes actions the follower has not delivered
// yet, the cache cannot tell whether a journal had one there, so a cached metajournal row is not
// reused; and once the follower delivers them (below pointer2, so not indexed) they still count as
// actions of their journals. Here another process purged the journals and the purges were replicated.
func TestHeadCache_RowCacheFollowerBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		log := &pausableLog{Log: &journaltest.Log{NumPartitions: 1}}
		ev := &journaltest.Eventual{}
		js, _ := newCachedJournals(t, log, ev, journal.HeadCacheConfig{PollInterval: 10 * time.Millisecond, Timeout: time.Hour})
		defer js.Close(ctx)
		a := js.Journal(journal.Key{Topic: "journal", ID: "a"})
		c := js.Journal(journal.Key{Topic: "journal", ID: "c"})
		replicateAll := func() { t.Helper(); replicateAndPoll(t, log.Log, ev) }
		pointer := func(j journal.Journal, want journal.SeqNr, when string) {
			t.Helper()
			if p, _, err := j.Pointer(ctx); err != nil || p != want {
				t.Errorf("%s pointer %s = %d %v, want %d", j.Key().ID, when, p, err, want)
			}
		}
		for _, j := range []journal.Journal{a, c} {
			if _, err := j.Append(ctx, events(1, 2, 3), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		replicateAll()
		pointer(a, 3, "before")
		pointer(c, 3, "before")
		log.pause()
		other := newJournals(t, log.Log, ev, false)
		for _, j := range []journal.Journal{a, c} {
			if _, err := other.Journal(j.Key()).Purge(ctx); err != nil {
				t.Fatal(err)
			}
		}
		replicateAll()
		// The read's marker lands right after pointer2: the cache answers "all replicated" at once,
		// though its follower has not seen the purge.
		pointer(a, 0, "after a replicated purge the follower has not seen")
		log.unpause()
		synctest.Wait()
		pointer(c, 0, "after a replicated purge the follower saw below pointer2")
	})
}

// replicateAndPoll replicates everything in partition 0 of topic "journal" and waits, in a synctest
// bubble, for a head cache polling every 10ms to see the new pointer2.
func replicateAndPoll(t *testing.T, log *journaltest.Log, ev *journaltest.Eventual) {
	t.Helper()
	recs := log.Records("journal", 0)
	if err := ev.Replicate(log, "journal", 0, recs[len(recs)-1].Offset); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	synctest.Wait()
}
