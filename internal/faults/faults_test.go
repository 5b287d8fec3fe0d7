package faults_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// TestFaults runs every scenario of issue 10 on the one private stack, in sequence, each restarting
// only what it kills. A scenario starts what it needs itself, so -run TestFaults/<Name> works alone.
func TestFaults(t *testing.T) {
	s := needStack(t)
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, *stack)
	}{
		{"ReplicatorDown", replicatorDown},
		{"BadInput", badInput},
		{"SidecarKilled", sidecarKilled},
		{"KafkaKilled", kafkaKilled},
		{"CassandraKilled", cassandraKilled},
		{"PoisonRecords", poisonRecords},
	} {
		start := time.Now()
		ok := t.Run(sc.name, func(t *testing.T) { sc.fn(t, s) })
		t.Logf("%s: %v in %v", sc.name, map[bool]string{true: "ok", false: "FAILED"}[ok], time.Since(start).Round(time.Millisecond))
	}
}

// model is what a topic's journals must read back as: the seqNrs (in order) and the highest seq_nr.
type model struct {
	topic   string
	mu      sync.Mutex
	seqNrs  map[string][]int64
	highest map[string]int64
}

func newModel(topic string) *model {
	return &model{topic: topic, seqNrs: map[string][]int64{}, highest: map[string]int64{}}
}

func (m *model) appended(id string, seqNrs ...int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seqNrs[id] = append(m.seqNrs[id], seqNrs...)
	m.highest[id] = seqNrs[len(seqNrs)-1]
}

func (m *model) deleted(id string, to int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seqNrs[id] = slices.DeleteFunc(m.seqNrs[id], func(s int64) bool { return s <= to })
}

func (m *model) purged(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seqNrs[id] = nil
	m.highest[id] = 0
}

func (m *model) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.seqNrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// checkReads reads every journal through the sidecar and compares it with the model exactly.
func (m *model) checkReads(t *testing.T, c *client) { m.checkReadsRetrying(t, c, 0) }

// checkReadsRetrying is checkReads, but a read failing with a retryable code is retried for up to patience
// (on a loaded cluster a LOCAL_QUORUM read can time out); the retries are logged.
func (m *model) checkReadsRetrying(t *testing.T, c *client, patience time.Duration) {
	t.Helper()
	bad := 0
	retried := map[string]int{}
	defer func() {
		if len(retried) > 0 {
			t.Logf("reads retried after retryable errors: %v", retried)
		}
	}()
	for _, id := range m.ids() {
		var r readResult
		var err error
		for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			r, err = c.read(ctx, m.topic, id, 20000)
			cancel()
			if err == nil || !retryable(err) || time.Since(start) > patience {
				break
			}
			retried[codeOf(err).String()]++
		}
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		want := m.seqNrs[id]
		if !slices.Equal(r.seqNrs, want) || r.highest != m.highest[id] || !r.ok {
			bad++
			if bad <= 5 {
				t.Errorf("read %s: seqNrs %v highest %d payloads ok %v; want %v highest %d", id, r.seqNrs, r.highest, r.ok, want, m.highest[id])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d journals read back wrong", bad, len(m.ids()))
	}
}

// cassandraMatches reports whether Cassandra holds exactly the model's events for every journal.
func (m *model) cassandraMatches(cs *cassandra.Store) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range m.ids() {
		got, err := cassandraSeqNrs(ctx, cs, m.topic, id)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", id, err)
		}
		if !slices.Equal(got, m.seqNrs[id]) {
			return false, fmt.Sprintf("%s: cassandra has %v, want %v", id, got, m.seqNrs[id])
		}
	}
	return true, ""
}

// waitReplicated waits until Cassandra holds exactly the model, and returns how long it took.
func (m *model) waitReplicated(t *testing.T, cs *cassandra.Store, d time.Duration) time.Duration {
	t.Helper()
	var last string
	start := time.Now()
	for {
		ok, why := m.cassandraMatches(cs)
		if ok {
			return time.Since(start)
		}
		last = why
		if time.Since(start) > d {
			t.Fatalf("the replicator did not catch up within %v: %s", d, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func topicName(scenario string) string { return testenv.Name("journal_faults_" + scenario) }

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}
