package replicator_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/replicator"
	"github.com/kjournal/kjournal/replicator/replicatortest"
)

const partitions = 4 // of the topics Kafka auto-creates (deploy/local)

// env is a fresh keyspace, a topic prefix no other test uses, and the clients a test writes and
// checks with.
type env struct {
	brokers  []string
	keyspace string
	prefix   string
	store    *cassandra.Store
	log      *kafka.Log
	groups   *kafka.Groups
	js       *journal.Journals
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	brokers := testenv.KafkaBrokers(tb)
	hosts := testenv.CassandraHosts(tb)
	e := &env{brokers: brokers, keyspace: testenv.Name("rk"), prefix: testenv.Name("rt")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: e.keyspace, Timeout: 30 * time.Second, Logger: testLogger(tb, "cassandra")})
	if err != nil {
		tb.Fatalf("cassandra: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Session().Query(`DROP KEYSPACE IF EXISTS ` + e.keyspace).Exec(); err != nil {
			tb.Logf("drop keyspace %s: %v", e.keyspace, err)
		}
		_ = st.Close()
	})
	e.store = st
	if e.log, err = kafka.New(kafka.Config{Brokers: brokers, ClientID: "replicator-test"}); err != nil {
		tb.Fatalf("kafka: %v", err)
	}
	tb.Cleanup(func() { _ = e.log.Close() })
	if e.groups, err = kafka.NewGroups(kafka.Config{Brokers: brokers}); err != nil {
		tb.Fatalf("kafka groups: %v", err)
	}
	tb.Cleanup(func() { _ = e.groups.Close() })
	if e.js, err = journal.New(journal.Config{Log: e.log, Eventual: st, Origin: "test-writer"}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.js.Close(context.Background()) })
	return e
}

func (e *env) topic(suffix string) string { return e.prefix + "_" + suffix }

func testLogger(tb testing.TB, name string) hclog.Logger {
	level := hclog.Warn
	if os.Getenv("KJ_TEST_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: testWriter{tb}})
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

// config is the replicator configuration of the tests: fast discovery and retries.
func (e *env) config(tb testing.TB) replicator.Config {
	return replicator.Config{
		Kafka:             kafka.Config{Brokers: e.brokers},
		Store:             e.store,
		TopicPrefixes:     []string{e.prefix},
		DiscoveryInterval: 100 * time.Millisecond,
		RetryMin:          10 * time.Millisecond,
		RetryMax:          500 * time.Millisecond,
		ExpiryInterval:    -1,
		Logger:            testLogger(tb, "replicator"),
	}
}

// running is a replicator running in the background.
type running struct {
	*replicator.Replicator
	cancel context.CancelFunc
	done   chan error
}

// start runs a replicator with cfg until stop or the end of the test.
func start(tb testing.TB, cfg replicator.Config) *running {
	tb.Helper()
	r, err := replicator.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Replicator: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	tb.Cleanup(func() { rr.stop(tb) })
	return rr
}

// stop shuts the replicator down gracefully and waits for Run; it may be called again.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			tb.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(time.Minute):
		tb.Errorf("Run did not return within a minute of cancel")
	}
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func waitFor(tb testing.TB, what string, timeout time.Duration, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			tb.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idsOn returns n journal ids that all hash to partition p.
func idsOn(prefix string, p int32, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if kafka.PartitionForKey(id, partitions) == p {
			ids = append(ids, id)
		}
	}
	return ids
}

func events(from, to journal.SeqNr) []journal.Event {
	var es []journal.Event
	for s := from; s <= to; s++ {
		e := journal.Event{SeqNr: s, Payload: journal.JSONPayload([]byte(fmt.Sprintf(`{"n":%d}`, s)))}
		if s%3 == 0 {
			e.Payload = journal.BinaryPayload([]byte{byte(s), 0, 1})
			e.Tags = []string{"a", "b"}
		}
		es = append(es, e)
	}
	return es
}

// ends tracks the last offset written per partition of a topic.
type ends map[int32]int64

func (en ends) add(po journal.PartitionOffset) journal.PartitionOffset {
	if o, ok := en[po.Partition]; !ok || po.Offset > o {
		en[po.Partition] = po.Offset
	}
	return po
}

func must[T any](tb testing.TB) func(T, error) T {
	return func(v T, err error) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// appendTo appends events from..to to key and records the offset.
func (e *env) appendTo(tb testing.TB, en ends, key journal.Key, from, to journal.SeqNr, opts journal.AppendOptions) journal.PartitionOffset {
	tb.Helper()
	po, err := e.js.Journal(key).Append(testCtx(tb), events(from, to), opts)
	if err != nil {
		tb.Fatalf("append %s: %v", key, err)
	}
	return en.add(po)
}

// markEnds produces a Mark on every partition of topic, so that the topic's last offsets are
// known, and returns them.
func (e *env) markEnds(tb testing.TB, topic string) ends {
	tb.Helper()
	en := ends{}
	for p := int32(0); p < partitions; p++ {
		id := idsOn("end", p, 1)[0]
		po, err := e.js.Journal(journal.Key{Topic: topic, ID: id}).Mark(testCtx(tb), "end")
		if err != nil {
			tb.Fatal(err)
		}
		en.add(po)
	}
	return en
}

// waitReplicated waits until pointer2 of every partition in en reached its offset.
func (e *env) waitReplicated(tb testing.TB, topic string, en ends, timeout time.Duration) {
	tb.Helper()
	waitFor(tb, fmt.Sprintf("pointer2 of %s at %v", topic, en), timeout, func() (bool, error) {
		for p, want := range en {
			o, ok, err := e.store.Offset(testCtx(tb), topic, p)
			if err != nil || !ok || o < want {
				return false, err
			}
		}
		return true, nil
	})
}

// waitCommitted waits until group committed want per partition.
func (e *env) waitCommitted(tb testing.TB, group, topic string, want map[int32]int64) {
	tb.Helper()
	var got map[int32]int64
	waitFor(tb, fmt.Sprintf("commits %v of %s", want, group), 20*time.Second, func() (bool, error) {
		var err error
		got, err = e.groups.Committed(testCtx(tb), group, topic)
		if err != nil {
			return false, err
		}
		for p, o := range want {
			if got[p] != o {
				return false, nil
			}
		}
		return true, nil
	})
}

// verify checks Cassandra against the fold of the topic's actions up to en, and pointer2
// against en.
func (e *env) verify(tb testing.TB, topic string, en ends) map[string]*replicatortest.Journal {
	tb.Helper()
	ctx := testCtx(tb)
	actions, err := replicatortest.ReadTopic(ctx, e.log, topic, en)
	if err != nil {
		tb.Fatal(err)
	}
	want, err := replicatortest.Fold(actions)
	if err != nil {
		tb.Fatal(err)
	}
	diffs, err := replicatortest.Diff(ctx, e.store, e.keyspace, topic, want, en)
	if err != nil {
		tb.Fatal(err)
	}
	for i, d := range diffs {
		if i == 20 {
			tb.Errorf("... and %d more differences", len(diffs)-20)
			break
		}
		tb.Errorf("cassandra differs from the fold of kafka: %s", d)
	}
	return want
}

func head(tb testing.TB, st *cassandra.Store, key journal.Key) (cassandra.Head, bool) {
	tb.Helper()
	h, ok, err := st.Head(testCtx(tb), key)
	if err != nil {
		tb.Fatal(err)
	}
	return h, ok
}

func plus1(en ends) map[int32]int64 {
	out := map[int32]int64{}
	for p, o := range en {
		out[p] = o + 1
	}
	return out
}

func ownedPartitions(r *replicator.Replicator, topic string) []int32 {
	var ps []int32
	for p := range r.Status().Topics[topic].Partitions {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

var errNotYet = errors.New("not yet")
