package replicator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// Unit tests of the round logic with fakes of Kafka and Cassandra: the order of writes, pointer2
// and commit; retries; poison records that journal/kafka's producer cannot write (a malformed
// action header). The real thing is tested in replicator_test.go.

const fakeTopic = "journal-fake"

// opLog is the sequence of what the fakes were asked to do.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(format string, args ...any) {
	l.mu.Lock()
	l.ops = append(l.ops, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *opLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

type fakeStore struct {
	log        *opLog
	failAppend int // fail this many Append calls first
	mu         sync.Mutex
	heads      []string // the journals whose head was read, in order
}

func (s *fakeStore) Offset(context.Context, string, int32) (int64, bool, error) { return 0, false, nil }

func (s *fakeStore) SavePointer2(_ context.Context, topic string, p int32, offset int64, _ time.Time) error {
	s.log.add("pointer2 %d", offset)
	return nil
}

func (s *fakeStore) UpdatePointer2(ctx context.Context, topic string, p int32, offset int64, ts time.Time) error {
	return s.SavePointer2(ctx, topic, p, offset, ts)
}

func (s *fakeStore) Head(_ context.Context, key journal.Key) (cassandra.Head, bool, error) {
	s.mu.Lock()
	s.heads = append(s.heads, key.ID)
	s.mu.Unlock()
	return cassandra.Head{}, false, nil
}

func (s *fakeStore) headsRead() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.heads)
}

func (s *fakeStore) AppendKnown(_ context.Context, key journal.Key, _ *cassandra.Known, po journal.PartitionOffset, _ time.Time, _ time.Duration, events []journal.EventRecord) (bool, error) {
	s.mu.Lock()
	fail := s.failAppend > 0
	if fail {
		s.failAppend--
	}
	s.mu.Unlock()
	seqNrs := make([]string, len(events))
	for i, e := range events {
		seqNrs[i] = e.SeqNr.String()
	}
	if fail {
		s.log.add("append %s@%d failed", key.ID, po.Offset)
		return false, fmt.Errorf("%w: timeout", journal.ErrCassandraUnavailable)
	}
	s.log.add("append %s@%d [%s]", key.ID, po.Offset, strings.Join(seqNrs, " "))
	return true, nil
}

func (s *fakeStore) DeleteKnown(_ context.Context, key journal.Key, _ *cassandra.Known, po journal.PartitionOffset, _ time.Time, to journal.SeqNr, _ string) (bool, error) {
	s.log.add("delete %s@%d to %d", key.ID, po.Offset, to)
	return true, nil
}

func (s *fakeStore) PurgeKnown(_ context.Context, key journal.Key, _ *cassandra.Known, po journal.PartitionOffset, _ time.Time) (bool, error) {
	s.log.add("purge %s@%d", key.ID, po.Offset)
	return true, nil
}

// fakeClaim hands out batches, then waits for the end of the claim.
type fakeClaim struct {
	log     *opLog
	batches chan []journal.LogRecord
	done    chan struct{}
}

func (c *fakeClaim) Topic() string         { return fakeTopic }
func (c *fakeClaim) Partition() int32      { return 0 }
func (c *fakeClaim) Done() <-chan struct{} { return c.done }
func (c *fakeClaim) HighWaterMark() int64  { return 100 }
func (c *fakeClaim) Commit(next int64)     { c.log.add("commit %d", next) }
func (c *fakeClaim) Next() ([]journal.LogRecord, bool) {
	select {
	case b := <-c.batches:
		return b, true
	case <-c.done:
		return nil, false
	}
}

type fakeConsumers struct{ c *fakeClaim }

func (f *fakeConsumers) topics(context.Context) ([]string, error) {
	return []string{"other", fakeTopic}, nil
}
func (f *fakeConsumers) join(topic, group string) (consumerGroup, error) {
	if topic != fakeTopic || group != "replicator-"+fakeTopic {
		return nil, fmt.Errorf("join %s %s", topic, group)
	}
	return f, nil
}
func (f *fakeConsumers) close() error { return nil }
func (f *fakeConsumers) run(ctx context.Context, fn func(claim)) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f.c)
	}()
	<-ctx.Done()
	close(f.c.done)
	<-done
	return ctx.Err()
}

// runFake runs a replicator over the fakes with batches as the partition's batches.
func runFake(t *testing.T, mode PoisonMode, failAppend int, batches ...[]journal.LogRecord) (*Replicator, *opLog, context.CancelFunc) {
	r, log, _, stop := runFakeStore(t, mode, failAppend, batches...)
	return r, log, stop
}

func runFakeStore(t *testing.T, mode PoisonMode, failAppend int, batches ...[]journal.LogRecord) (*Replicator, *opLog, *fakeStore, context.CancelFunc) {
	t.Helper()
	log := &opLog{}
	c := &fakeClaim{log: log, batches: make(chan []journal.LogRecord, len(batches)), done: make(chan struct{})}
	for _, b := range batches {
		c.batches <- b
	}
	store := &fakeStore{log: log, failAppend: failAppend}
	r, err := New(Config{
		Store:             store,
		CommitInterval:    -1,
		OnPoison:          mode,
		DiscoveryInterval: 10 * time.Millisecond,
		RetryMin:          time.Millisecond,
		RetryMax:          5 * time.Millisecond,
		consumers:         &fakeConsumers{c: c},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return r, log, store, stop
}

func waitOps(t *testing.T, log *opLog, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(log.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("ops %q, want at least %d", log.get(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return log.get()
}

func waitOp(t *testing.T, log *opLog, op string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(log.get(), op) {
		if time.Now().After(deadline) {
			t.Fatalf("ops %q, want %q among them", log.get(), op)
		}
		time.Sleep(time.Millisecond)
	}
}

func appendRecord(t *testing.T, id string, offset int64, from, to journal.SeqNr) journal.LogRecord {
	t.Helper()
	var es []journal.Event
	for s := from; s <= to; s++ {
		es = append(es, journal.Event{SeqNr: s})
	}
	value, pt, err := journal.EncodeEvents(es, journal.PayloadMetadata{})
	if err != nil {
		t.Fatal(err)
	}
	return journal.LogRecord{Offset: offset, ID: id, Action: &journal.ActionRecord{
		Action: journal.Action{
			Key: journal.Key{Topic: fakeTopic, ID: id}, Timestamp: time.Now(), Value: value,
			Header: &journal.AppendHeader{Range: journal.SeqRange{From: from, To: to}, PayloadType: pt},
		},
		PartitionOffset: journal.PartitionOffset{Offset: offset},
	}}
}

func actionRecord(id string, offset int64, h journal.ActionHeader) journal.LogRecord {
	return journal.LogRecord{Offset: offset, ID: id, Action: &journal.ActionRecord{
		Action:          journal.Action{Key: journal.Key{Topic: fakeTopic, ID: id}, Timestamp: time.Now(), Header: h},
		PartitionOffset: journal.PartitionOffset{Offset: offset},
	}}
}

// TestRound_OrderAndRetry: a failed round is retried with the same records; Cassandra's journal
// writes come before pointer2, and pointer2 before the commit.
func TestRound_OrderAndRetry(t *testing.T) {
	_, log, store, _ := runFakeStore(t, PoisonStall, 1, []journal.LogRecord{
		appendRecord(t, "a", 0, 1, 2),
		actionRecord("a", 1, &journal.DeleteHeader{To: 1}),
		actionRecord("b", 2, &journal.MarkHeader{ID: "m"}),
		{Offset: 3}, // no key, no action
	})
	got := waitOps(t, log, 5)
	want := []string{"append a@0 failed", "append a@0 [1 2]", "delete a@1 to 1", "pointer2 3", "commit 4"}
	if !slices.Equal(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	// The failed write dropped a's cached head: the retry read it again.
	if got, want := store.headsRead(), []string{"a", "a"}; !slices.Equal(got, want) {
		t.Errorf("heads read %q, want %q", got, want)
	}
}

// TestRound_HeadCache: a journal's head is read in its first round only; later rounds start from
// the head the previous one wrote.
func TestRound_HeadCache(t *testing.T) {
	_, log, store, _ := runFakeStore(t, PoisonStall, 0,
		[]journal.LogRecord{appendRecord(t, "a", 0, 1, 1), appendRecord(t, "b", 1, 1, 1)},
		[]journal.LogRecord{appendRecord(t, "a", 2, 2, 2)},
		[]journal.LogRecord{appendRecord(t, "b", 3, 2, 2), appendRecord(t, "a", 4, 3, 3)},
	)
	waitOp(t, log, "commit 5") // rounds done, their pointer2 saves may have coalesced
	got := store.headsRead()
	slices.Sort(got)
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("heads read %q, want %q", got, want)
	}
}

// TestHeadCache_Bound: at most max entries, the recently used ones kept, dropped ones gone.
func TestHeadCache_Bound(t *testing.T) {
	c := newHeadCache(4)
	k := func(o int64) cassandra.Known {
		return cassandra.Known{Found: true, Head: cassandra.Head{PartitionOffset: journal.PartitionOffset{Offset: o}}}
	}
	c.put("a", k(1))
	c.put("b", k(2))
	c.put("c", k(3))
	c.put("d", k(4))
	if got, ok := c.get("a"); !ok || got.Head.PartitionOffset.Offset != 1 {
		t.Fatalf("a: %+v %v", got, ok)
	}
	c.put("e", k(5)) // five rows for four places: b, the least recently used, goes
	if _, ok := c.get("b"); ok {
		t.Error("b kept beyond the bound")
	}
	for _, id := range []string{"a", "c", "d", "e"} {
		if _, ok := c.get(id); !ok {
			t.Errorf("%s lost", id)
		}
	}
	if n := c.rows.Len(); n > 4 {
		t.Errorf("%d entries, max 4", n)
	}
	c.drop("a")
	if _, ok := c.get("a"); ok {
		t.Error("a after drop")
	}
	off := newHeadCache(0)
	off.put("a", k(1))
	if _, ok := off.get("a"); ok {
		t.Error("a disabled cache keeps entries")
	}
}

func poisonRecords(t *testing.T) []journal.LogRecord {
	return []journal.LogRecord{
		appendRecord(t, "a", 0, 1, 2),
		{Offset: 1, ID: "a", Err: fmt.Errorf("%w: unexpected end of JSON", journal.ErrMalformedHeader)},
		appendRecord(t, "a", 2, 3, 3),
		actionRecord("b", 3, &journal.PurgeHeader{}),
	}
}

// TestRound_PoisonStall: the records before a poison record are replicated and committed; the
// partition then stops at it, reports it, and does nothing else.
func TestRound_PoisonStall(t *testing.T) {
	r, log, stop := runFake(t, PoisonStall, 0, poisonRecords(t))
	want := []string{"append a@0 [1 2]", "pointer2 0", "commit 1"}
	if got := waitOps(t, log, 3); !slices.Equal(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Status().Ready {
		if time.Now().After(deadline) {
			t.Fatal("still ready")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // many retries at RetryMax 5 ms
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("ops %q after the poison record", got)
	}
	s := r.Status()
	if len(s.Reasons) != 1 || !strings.Contains(s.Reasons[0], "offset 1") {
		t.Errorf("status %+v", s)
	}
	stop() // the claim ends while the partition stalls
}

// TestRound_PoisonSkip: a poison record is skipped and the rest replicated in the same round.
func TestRound_PoisonSkip(t *testing.T) {
	r, log, _ := runFake(t, PoisonSkip, 0, poisonRecords(t))
	want := []string{"append a@2 [1 2 3]", "purge b@3", "pointer2 3", "commit 4"}
	got := waitOps(t, log, 4)
	slices.Sort(got[:2]) // journals a and b are written in parallel
	if !slices.Equal(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	if !r.Status().Ready {
		t.Errorf("not ready: %+v", r.Status())
	}
}

func TestDecodeAppend_Invalid(t *testing.T) {
	for name, value := range map[string][]byte{
		"not json":   []byte(`{"events":`),
		"no events":  []byte(`{"events":[]}`),
		"seqNr 0":    []byte(`{"events":[{"seqNr":0}]}`),
		"decreasing": []byte(`{"events":[{"seqNr":2},{"seqNr":1}]}`),
		"empty":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			a := &journal.ActionRecord{Action: journal.Action{Value: value}}
			if _, err := decodeAppend(a, &journal.AppendHeader{PayloadType: journal.PayloadJSON}); err == nil {
				t.Errorf("decodeAppend(%q) succeeded", value)
			}
		})
	}
}
