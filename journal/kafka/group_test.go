package kafka_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

func newGroups(tb testing.TB, brokers []string) *kafka.Groups {
	tb.Helper()
	gs, err := kafka.NewGroups(kafka.Config{Brokers: brokers, ClientID: "group-test"})
	if err != nil {
		tb.Fatalf("NewGroups: %v", err)
	}
	tb.Cleanup(func() { _ = gs.Close() })
	return gs
}

// member runs one group member in the background, recording every claim it gets and the records
// it consumed; each batch is committed before the next is taken.
type member struct {
	g        *kafka.Group
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once

	mu      sync.Mutex
	claims  map[int32]int // partition -> claims started
	owned   map[int32]bool
	records map[int32][]journal.LogRecord
}

func startMember(tb testing.TB, gs *kafka.Groups, gc kafka.GroupConfig) *member {
	tb.Helper()
	g, err := gs.Join(gc)
	if err != nil {
		tb.Fatalf("Join: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{g: g, cancel: cancel, done: make(chan error, 1),
		claims: map[int32]int{}, owned: map[int32]bool{}, records: map[int32][]journal.LogRecord{}}
	go func() {
		m.done <- g.Run(ctx, func(c *kafka.Claim) {
			p := c.Partition()
			m.mu.Lock()
			m.claims[p]++
			m.owned[p] = true
			m.mu.Unlock()
			defer func() {
				m.mu.Lock()
				m.owned[p] = false
				m.mu.Unlock()
			}()
			for {
				recs, ok := c.Next()
				if !ok {
					return
				}
				m.mu.Lock()
				m.records[p] = append(m.records[p], recs...)
				m.mu.Unlock()
				c.Commit(recs[len(recs)-1].Offset + 1)
			}
		})
	}()
	tb.Cleanup(func() { m.stop(tb) })
	return m
}

// stop leaves the group; it is idempotent.
func (m *member) stop(tb testing.TB) {
	m.stopOnce.Do(func() {
		m.cancel()
		select {
		case err := <-m.done:
			if !errors.Is(err, context.Canceled) {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("Run did not return after cancel")
		}
		_ = m.g.Close()
	})
}

func (m *member) ownedPartitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p, ok := range m.owned {
		if ok {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func (m *member) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, rs := range m.records {
		n += len(rs)
	}
	return n
}

func waitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGroup_ConsumeCommit(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	gs := newGroups(t, brokers)
	group := testenv.Name("g")

	id := idsOnPartition(testenv.Name("j"), 1, 1)[0]
	key := journal.Key{Topic: topic, ID: id}
	var want []journal.PartitionOffset
	want = append(want, produce(t, l, appendOf(t, key, 1, 2, false)))
	want = append(want, produce(t, l, markAction(key, "m")))
	badOffset := produceRaw(t, brokers, topic, 1, id, `{"append":`)
	noKeyOffset := produceRaw(t, brokers, topic, 1, "", `{"mark":{"id":"x"}}`)
	want = append(want, produce(t, l, journal.Action{Key: key, Timestamp: now(), Header: &journal.DeleteHeader{To: 1}}))

	m := startMember(t, gs, kafka.GroupConfig{GroupID: group, Topic: topic})
	waitFor(t, "5 records", 30*time.Second, func() bool { return m.count() == 5 })
	m.mu.Lock()
	recs := slices.Clone(m.records[1])
	m.mu.Unlock()
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Errorf("record %d at offset %d", i, r.Offset)
		}
		switch r.Offset {
		case badOffset:
			if r.Err == nil || !errors.Is(r.Err, journal.ErrDataIntegrity) || r.Action != nil || r.ID != id {
				t.Errorf("malformed header: %+v", r)
			}
		case noKeyOffset:
			if r.Err != nil || r.Action != nil || r.ID != "" {
				t.Errorf("record without key: %+v", r)
			}
		default:
			if r.Err != nil || r.Action == nil || r.Action.Key != key {
				t.Errorf("record %d: %+v", r.Offset, r)
			}
		}
	}
	if got := m.ownedPartitions(); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Errorf("owned %v, want all 4 partitions", got)
	}
	ctx := testCtx(t)
	var committed map[int32]int64
	waitFor(t, "the commit", 10*time.Second, func() bool {
		var err error
		if committed, err = gs.Committed(ctx, group, topic); err != nil {
			t.Fatal(err)
		}
		return committed[1] == 5
	})
	if committed[1] != 5 || len(committed) != 1 {
		t.Errorf("committed %v, want partition 1 at 5", committed)
	}
	m.stop(t)

	// A new member starts at the committed offset.
	want = append(want, produce(t, l, markAction(key, "m2")))
	m2 := startMember(t, gs, kafka.GroupConfig{GroupID: group, Topic: topic})
	waitFor(t, "1 record", 30*time.Second, func() bool { return m2.count() >= 1 })
	time.Sleep(200 * time.Millisecond)
	m2.mu.Lock()
	got := m2.records[1]
	m2.mu.Unlock()
	if len(got) != 1 || got[0].Offset != want[len(want)-1].Offset {
		t.Errorf("after restart got %+v, want only offset %d", got, want[len(want)-1].Offset)
	}
}

// TestGroup_CooperativeSplit: a second member takes half of the partitions, the first keeps the
// others without giving them up (cooperative rebalancing), and takes them all back when the second
// leaves.
func TestGroup_CooperativeSplit(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	gs := newGroups(t, brokers)
	group := testenv.Name("g")
	gc := kafka.GroupConfig{GroupID: group, Topic: topic}

	m1 := startMember(t, gs, gc)
	waitFor(t, "m1 owns 4 partitions", 30*time.Second, func() bool { return len(m1.ownedPartitions()) == 4 })
	m2 := startMember(t, gs, gc)
	waitFor(t, "a 2/2 split", 30*time.Second, func() bool {
		return len(m1.ownedPartitions()) == 2 && len(m2.ownedPartitions()) == 2
	})
	all := append(m1.ownedPartitions(), m2.ownedPartitions()...)
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Errorf("partitions %v overlap", all)
	}
	owned := m1.ownedPartitions()
	m1.mu.Lock()
	for _, p := range owned {
		if m1.claims[p] != 1 {
			t.Errorf("m1 claimed partition %d %d times; a cooperative rebalance keeps it", p, m1.claims[p])
		}
	}
	m1.mu.Unlock()

	m2.stop(t)
	waitFor(t, "m1 owns 4 partitions again", 30*time.Second, func() bool { return len(m1.ownedPartitions()) == 4 })
}

// TestGroup_StaticMembership: a static member that restarts takes its partitions back at once,
// without waiting for its old session to time out.
func TestGroup_StaticMembership(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	gs := newGroups(t, brokers)
	gc := kafka.GroupConfig{GroupID: testenv.Name("g"), Topic: topic, InstanceID: "replicator-0", SessionTimeout: 30 * time.Second}

	m1 := startMember(t, gs, gc)
	waitFor(t, "m1 owns 4 partitions", 30*time.Second, func() bool { return len(m1.ownedPartitions()) == 4 })
	m1.stop(t)
	start := time.Now()
	m2 := startMember(t, gs, gc)
	waitFor(t, "m2 owns 4 partitions", 25*time.Second, func() bool { return len(m2.ownedPartitions()) == 4 })
	t.Logf("restarted static member owns its partitions after %s", time.Since(start))
}

func TestGroups_Topics(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	gs := newGroups(t, brokers)
	topics, err := gs.Topics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(topics, topic) || !slices.IsSorted(topics) {
		t.Errorf("topics %v lack %s or are not sorted", topics, topic)
	}
}

func TestGroupConfig_Invalid(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	gs := newGroups(t, brokers)
	for _, gc := range []kafka.GroupConfig{{Topic: "t"}, {GroupID: "g"}, {GroupID: "g", Topic: "t", MaxBatch: -1}} {
		if _, err := gs.Join(gc); err == nil {
			t.Errorf("Join(%+v) succeeded", gc)
		}
	}
}
