package faults_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kjournal/kjournal/protocol"
)

// cassandraKilled (item 3): Cassandra gets SIGKILL. Appends keep succeeding. Reads are measured for
// two kinds of journal: "old" ones whose events were replicated to Cassandra before the kill, and
// "new" ones appended only during the outage (all their data is in Kafka). After the restart the
// replicator catches up and every journal reads back exactly.
func cassandraKilled(t *testing.T, s *stack) {
	s.must(t, "start", "cassandra", "sidecar", "replicator")
	topic := topicName("cass")
	m := newModel(topic)
	c := newClient(s.socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 10 {
		id := fmt.Sprintf("old%02d", i)
		if _, err := c.append(ctx, topic, id, 0, seqRange(1, 5)...); err != nil {
			t.Fatal(err)
		}
		m.appended(id, seqRange(1, 5)...)
	}
	cs := openCassandra(t)
	m.waitReplicated(t, cs, 60*time.Second)
	m.checkReads(t, c) // warm: the sidecar has read these journals' pointers from Cassandra before

	killed := time.Now()
	s.must(t, "kill", "cassandra")
	// Appends keep succeeding: old journals and new ones.
	for i := range 10 {
		old, fresh := fmt.Sprintf("old%02d", i), fmt.Sprintf("new%02d", i)
		if _, err := c.append(ctx, topic, old, 5000, 6, 7); err != nil {
			t.Fatalf("append to %s with Cassandra down: %v", old, err)
		}
		m.appended(old, 6, 7)
		if _, err := c.append(ctx, topic, fresh, 5000, 1, 2, 3); err != nil {
			t.Fatalf("append to %s with Cassandra down: %v", fresh, err)
		}
		m.appended(fresh, 1, 2, 3)
	}
	t.Logf("with Cassandra down: 20 appends (10 to replicated journals, 10 to new ones) all succeeded")

	// Reads during the outage, with timeout_ms 5000.
	const timeoutMs = 5000
	outcome := func(kind string) {
		results := map[string]int{}
		var slowest time.Duration
		for i := range 10 {
			id := fmt.Sprintf("%s%02d", kind, i)
			start := time.Now()
			r, err := c.read(ctx, topic, id, timeoutMs)
			slowest = max(slowest, time.Since(start))
			switch {
			case err == nil:
				// The design needs Cassandra's pointer2 and metajournal to know what is replicated, so
				// even a journal that is all in Kafka cannot be read: a success would be news.
				t.Errorf("read %s succeeded with Cassandra down", id)
				want := m.seqNrs[id]
				if fmt.Sprint(r.seqNrs) != fmt.Sprint(want) {
					t.Errorf("read %s during the outage returned %v, want %v", id, r.seqNrs, want)
				}
				results["OK (exact)"]++
			case codeOf(err) == protocol.CodeCassandraUnavailable || codeOf(err) == protocol.CodeTimeout:
				if !retryable(err) {
					t.Errorf("read %s: %v not retryable", id, err)
				}
				results[fmt.Sprintf("%v retryable", codeOf(err))]++
			default:
				t.Errorf("read %s during the outage: %v", id, err)
				results[err.Error()]++
			}
		}
		t.Logf("reads of %s journals during the outage: %v; slowest %v (timeout_ms %d)", kind, results, slowest.Round(time.Millisecond), timeoutMs)
		if slowest > timeoutMs*time.Millisecond+2*time.Second {
			t.Errorf("a read of a %s journal took %v", kind, slowest)
		}
	}
	outcome("old")
	outcome("new")
	code, body := httpGet(sidecarHTTP, "/readyz")
	t.Logf("sidecar /readyz during the outage: %d %q", code, body)

	d := s.must(t, "start", "cassandra")
	t.Logf("cassandra down for %v (restart took %v)", time.Since(killed).Round(time.Millisecond), d.Round(time.Millisecond))
	cs2 := openCassandra(t)
	rd := m.waitReplicated(t, cs2, 90*time.Second)
	t.Logf("replicator caught up %v after Cassandra was ready again", rd.Round(time.Millisecond))
	eventually(t, 30*time.Second, "sidecar /readyz ok again", func() bool {
		code, _ := httpGet(sidecarHTTP, "/readyz")
		return code == 200
	})
	m.checkReads(t, c)
	t.Logf("all 20 journals read back exactly after the restart")
}
