package faults_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/protocol"
)

// The cluster's addresses (issue 16): node N of each server on 127.0.0.N, the same ports on each, none of
// them the one-node fault stack's (29xxx) or a shared stack's.
const (
	clKafkaPort      = "39092"
	clKafkaCtlPort   = "39093"
	clCQLPort        = "39042"
	clStoragePort    = "37000"
	clSidecarHTTP    = "127.0.0.1:39095"
	clReplicatorHTTP = "127.0.0.1:39096"
	clBrokers        = "127.0.0.1:" + clKafkaPort + ",127.0.0.2:" + clKafkaPort + ",127.0.0.3:" + clKafkaPort
	clCQLHosts       = "127.0.0.1:" + clCQLPort + ",127.0.0.2:" + clCQLPort + ",127.0.0.3:" + clCQLPort
)

// cl is the three-node cluster, nil when KJ_CLUSTER is not 1.
var cl *stack

func newCluster() (*stack, error) {
	root, mainRun, err := dirs()
	if err != nil {
		return nil, err
	}
	run, keep := filepath.Join(mainRun, "cluster"), false
	if dir := os.Getenv("KJ_CLUSTER_RUN"); dir != "" {
		run, keep = dir, true
	}
	return newPrivateStack(root, mainRun, run, keep, "KJ_NODES=3",
		"KAFKA_PORT="+clKafkaPort, "KAFKA_CONTROLLER_PORT="+clKafkaCtlPort,
		"CASSANDRA_PORT="+clCQLPort, "CASSANDRA_STORAGE_PORT="+clStoragePort,
		"SIDECAR_HTTP_ADDR="+clSidecarHTTP, "REPLICATOR_HTTP_ADDR="+clReplicatorHTTP,
		"KJOURNAL_DISCOVERY_INTERVAL=1s", "KJOURNAL_EXPIRY_INTERVAL=0s")
}

// bootCluster starts a fresh cluster and kjournal on it: stack.sh's replicator creates the keyspace
// (NetworkTopologyStrategy datacenter1=3) before the sidecar starts.
func (s *stack) bootCluster() error {
	if !s.keep {
		if err := s.fresh(); err != nil {
			return err
		}
	}
	return s.sh("start")
}

func needCluster(t *testing.T) *stack {
	t.Helper()
	if cl == nil {
		t.Skip("cluster fault test: set KJ_CLUSTER=1 (make test-cluster sets it) to run it on a 3-node cluster of its own")
	}
	return cl
}

// TestCluster runs issue 16's fault scenarios on three Kafka brokers and three Cassandra nodes, in
// sequence, each restarting what it killed.
func TestCluster(t *testing.T) {
	s := needCluster(t)
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, *stack)
	}{
		{"LeaderKilled", leaderKilled},
		{"CassandraNodesKilled", cassandraNodesKilled},
		{"RollingRestart", rollingRestart},
	} {
		start := time.Now()
		ok := t.Run(sc.name, func(t *testing.T) { sc.fn(t, s) })
		t.Logf("%s: %v in %v", sc.name, map[bool]string{true: "ok", false: "FAILED"}[ok], time.Since(start).Round(time.Millisecond))
	}
}

// leaderKilled: 200 appenders, one journal each, while the broker leading most of the topic's partitions
// gets SIGKILL. Appends continue once the partitions have new leaders; every acknowledged append reads
// back, each seqNr once; the replicator catches up. The append-unavailability window is measured per
// journal: from its last acknowledgement before the kill to its first after.
func leaderKilled(t *testing.T, s *stack) {
	topic := topicName("cl_leader")
	l := startLoad(t, s, topic)
	defer l.halt(t)
	checkTopology(t, topic)
	time.Sleep(2 * time.Second)

	victim, led := busiestLeader(t, topic)
	before := l.acked()
	killed := time.Now()
	s.must(t, "kill", fmt.Sprintf("kafka%d", victim))
	t.Logf("killed kafka%d (SIGKILL), the leader of partitions %v, after %d acknowledged appends", victim, led, before)
	resumed := eventually(t, 120*time.Second, "every journal acknowledged again after the kill", func() bool {
		return l.journalsAckedSince(killed) == 200
	})
	t.Logf("every journal had an acknowledged append again %v after the kill", resumed.Round(time.Millisecond))
	gaps := l.gaps(killed)
	t.Logf("append unavailability per journal (last ack before the kill -> first after): max %v, p99 %v, p50 %v; %d of 200 journals over 1s",
		gaps[len(gaps)-1].Round(time.Millisecond), pct(gaps, 99).Round(time.Millisecond), pct(gaps, 50).Round(time.Millisecond), overCount(gaps, time.Second))

	s.must(t, "start", fmt.Sprintf("kafka%d", victim))
	isr := waitFullISR(t, topic)
	t.Logf("kafka%d back in every ISR %v after its restart", victim, isr.Round(time.Millisecond))
	l.end(t, s)
}

// rollingRestart: the three brokers are stopped (SIGTERM: controlled shutdown moves leadership away) and
// started again, one after the other, each only once the previous one is back in every ISR, under the
// same 200-appender load. Nothing acknowledged is lost.
func rollingRestart(t *testing.T, s *stack) {
	topic := topicName("cl_rolling")
	l := startLoad(t, s, topic)
	defer l.halt(t)
	waitFullISR(t, topic)
	for n := 1; n <= 3; n++ {
		broker := fmt.Sprintf("kafka%d", n)
		at := time.Now()
		s.must(t, "stop", broker)
		s.must(t, "start", broker)
		isr := waitFullISR(t, topic)
		gaps := l.gaps(at)
		t.Logf("%s restarted, back in every ISR %v later; append gap per journal around it: max %v, p50 %v",
			broker, isr.Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), pct(gaps, 50).Round(time.Millisecond))
	}
	l.end(t, s)
}

// cassandraNodesKilled: one Cassandra node killed, then a second. With one down, LOCAL_QUORUM (2 of 3)
// is still met: reads through the sidecar and replication go on. With two down, appends still succeed
// (Kafka) but reads fail with the retryable CASSANDRA_UNAVAILABLE (or TIMEOUT) within their deadline;
// once both nodes are back, the replicator catches up and every journal reads back exactly.
func cassandraNodesKilled(t *testing.T, s *stack) {
	s.must(t, "start")
	topic := topicName("cl_cass")
	m := newModel(topic)
	c := newClient(s.socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const journals = 20
	appendAll := func(from, to int64, phase string) {
		t.Helper()
		for i := range journals {
			id := fmt.Sprintf("j%02d", i)
			// A retryable failure (a loaded machine's Kafka TIMEOUT) is retried with the same seqNrs, as a client would.
			for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
				_, err := c.append(ctx, topic, id, 5000, seqRange(from, to)...)
				if err == nil {
					break
				}
				if !retryable(err) || time.Since(start) > time.Minute {
					t.Fatalf("%s: append %s %d..%d: %v", phase, id, from, to, err)
				}
				t.Logf("%s: append %s %d..%d retried after %v", phase, id, from, to, err)
			}
			m.appended(id, seqRange(from, to)...)
		}
	}
	appendAll(1, 5, "all up")
	cs := openCassandraAt(t, clCQLHosts)
	m.waitReplicated(t, cs, 90*time.Second)

	// One node down.
	killed := time.Now()
	s.must(t, "kill", "cassandra3")
	appendAll(6, 10, "cassandra3 down")
	// Until gossip convicts the dead node, a coordinator may still count on its replica: a read times
	// out (Cassandra's read_request_timeout, 5s) with a retryable code. Measured, then every read must pass.
	failed := map[string]int{}
	eventually(t, 90*time.Second, "reads with cassandra3 down", func() bool {
		_, err := c.read(ctx, topic, "j00", 20000)
		if err != nil {
			failed[fmt.Sprintf("%v retryable=%v", codeOf(err), retryable(err))]++
			if codeOf(err) != protocol.CodeCassandraUnavailable && codeOf(err) != protocol.CodeTimeout || !retryable(err) {
				t.Fatalf("read with cassandra3 down: %v", err)
			}
		}
		return err == nil
	})
	t.Logf("cassandra3 down: reads succeed again %v after the kill (failed meanwhile: %v)", time.Since(killed).Round(time.Millisecond), failed)
	m.checkReadsRetrying(t, c, time.Minute)
	t.Logf("cassandra3 down: %d journals appended and read back exactly through the sidecar", journals)
	rd := m.waitReplicated(t, cs, 90*time.Second)
	t.Logf("cassandra3 down: the replicator replicated the new events %v after they were appended", rd.Round(time.Millisecond))

	// Two nodes down: LOCAL_QUORUM cannot be met.
	s.must(t, "kill", "cassandra2")
	appendAll(11, 15, "cassandra2 and cassandra3 down")
	const timeoutMs = 5000
	results := map[string]int{}
	var slowest time.Duration
	for i := range journals {
		id := fmt.Sprintf("j%02d", i)
		start := time.Now()
		_, err := c.read(ctx, topic, id, timeoutMs)
		slowest = max(slowest, time.Since(start))
		switch {
		case err == nil:
			t.Errorf("read %s succeeded with two of three Cassandra nodes down (LOCAL_QUORUM)", id)
		case (codeOf(err) == protocol.CodeCassandraUnavailable || codeOf(err) == protocol.CodeTimeout) && retryable(err):
			results[fmt.Sprintf("%v retryable", codeOf(err))]++
		default:
			t.Errorf("read %s with two nodes down: %v (code %v, retryable %v)", id, err, codeOf(err), retryable(err))
		}
	}
	t.Logf("reads with two Cassandra nodes down: %v; slowest %v (timeout_ms %d)", results, slowest.Round(time.Millisecond), timeoutMs)
	if slowest > timeoutMs*time.Millisecond+2*time.Second {
		t.Errorf("a read took %v, over its deadline of %dms", slowest, timeoutMs)
	}
	code, body := httpGet(clReplicatorHTTP, "/readyz")
	t.Logf("replicator /readyz with two nodes down: %d (ready %v)", code, strings.Contains(body, `"ready": true`))

	d := s.must(t, "start", "cassandra2", "cassandra3")
	t.Logf("cassandra3 down for %v; cassandra2 and cassandra3 restarted in %v", time.Since(killed).Round(time.Millisecond), d.Round(time.Millisecond))
	rd = m.waitReplicated(t, cs, 120*time.Second)
	t.Logf("replicator caught up %v after the nodes were back", rd.Round(time.Millisecond))
	m.checkReadsRetrying(t, c, time.Minute)
	t.Logf("all %d journals read back exactly after the restart", journals)
}

// load is a set of appenders, one journal each, appending one event at a time; a failed append is
// retried with the same seqNr until it is acknowledged.
type load struct {
	m       *model
	stop    atomic.Bool
	wg      sync.WaitGroup
	clients []*client
	mu      sync.Mutex
	acks    map[string][]time.Time // when each acknowledgement arrived, per journal
	codes   map[string]int
	fails   atomic.Int64
}

// startLoad starts every server that is down, then 200 appenders with timeout_ms 5000, and waits until
// each journal has an acknowledged append.
func startLoad(t *testing.T, s *stack, topic string) *load {
	t.Helper()
	const workers, timeoutMs = 200, 5000
	s.must(t, "start")
	l := &load{m: newModel(topic), acks: map[string][]time.Time{}, codes: map[string]int{}}
	for range 8 {
		l.clients = append(l.clients, newClient(s.socket))
	}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.work(t, l.clients[w%len(l.clients)], topic, fmt.Sprintf("j%03d", w), timeoutMs)
		}()
	}
	eventually(t, 60*time.Second, "every journal acknowledged", func() bool { return l.journalsAcked() == workers })
	return l
}

func (l *load) work(t *testing.T, c *client, topic, id string, timeoutMs uint32) {
	var stopped time.Time
	pending := false // the last append of seqNr n failed: it is retried even after stop, so that it cannot land unacknowledged
	for n := int64(1); pending || !l.stop.Load(); {
		if l.stop.Load() {
			if stopped.IsZero() {
				stopped = time.Now()
			} else if time.Since(stopped) > time.Minute {
				t.Errorf("%s: append %d still failing a minute after the load stopped", id, n)
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond+10*time.Second)
		_, err := c.append(ctx, topic, id, timeoutMs, n)
		cancel()
		if err == nil {
			l.m.appended(id, n)
			l.mu.Lock()
			l.acks[id] = append(l.acks[id], time.Now())
			l.mu.Unlock()
			n++
			pending = false
			time.Sleep(100 * time.Millisecond) // 200 appenders: up to 2000 appends/s on a shared machine
			continue
		}
		pending = true
		l.fails.Add(1)
		l.mu.Lock()
		l.codes[fmt.Sprintf("%v retryable=%v", codeOf(err), retryable(err))]++
		l.mu.Unlock()
		if codeOf(err) != -1 && !retryable(err) {
			t.Errorf("%s: append %d failed with a non-retryable error: %v", id, n, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (l *load) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackedLocked()
}

func (l *load) journalsAcked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *load) journalsAckedSince(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.acks {
		if a[len(a)-1].After(at) {
			n++
		}
	}
	return n
}

// gaps returns, sorted, each journal's time from its last acknowledgement before at to its first after.
func (l *load) gaps(at time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, a := range l.acks {
		i, _ := slices.BinarySearchFunc(a, at, func(x, y time.Time) int { return x.Compare(y) })
		if i == 0 || i == len(a) {
			continue
		}
		out = append(out, a[i].Sub(a[i-1]))
	}
	slices.Sort(out)
	if len(out) == 0 {
		out = []time.Duration{0}
	}
	return out
}

// end lets the load run 2s more on the recovered cluster, then stops it (each appender first gets its
// pending append acknowledged), logs the counts and verifies.
func (l *load) end(t *testing.T, s *stack) {
	t.Helper()
	time.Sleep(2 * time.Second)
	l.stop.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	t.Logf("appends: %d acknowledged over %d journals, %d failed and retried: %v", l.ackedLocked(), len(l.acks), l.fails.Load(), l.codes)
	l.mu.Unlock()
	l.verify(t, s)
}

func (l *load) ackedLocked() int {
	n := 0
	for _, a := range l.acks {
		n += len(a)
	}
	return n
}

// halt stops the appenders when the test failed before finish; it also closes the clients.
func (l *load) halt(t *testing.T) {
	l.stop.Store(true)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Errorf("appenders still running 2 minutes after the stop")
	}
	for _, c := range l.clients {
		c.Close()
	}
}

// verify reads every journal back through the sidecar (Kafka and Cassandra) and compares it with every
// acknowledged append, and waits until Cassandra holds exactly the same.
func (l *load) verify(t *testing.T, s *stack) {
	t.Helper()
	c := newClient(s.socket)
	defer c.Close()
	l.m.checkReadsRetrying(t, c, time.Minute)
	t.Logf("every acknowledged append of all %d journals read back, in order, each seqNr once", len(l.m.ids()))
	rd := l.m.waitReplicated(t, openCassandraAt(t, clCQLHosts), 180*time.Second)
	t.Logf("replicator caught up: Cassandra holds exactly every journal %v after the load stopped", rd.Round(time.Millisecond))
}

func pct(sorted []time.Duration, p int) time.Duration { return sorted[(len(sorted)-1)*p/100] }

func overCount(ds []time.Duration, d time.Duration) int {
	n := 0
	for _, x := range ds {
		if x > d {
			n++
		}
	}
	return n
}

func kafkaAdmin(t *testing.T) sarama.ClusterAdmin {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Net.DialTimeout = 2 * time.Second
	a, err := sarama.NewClusterAdmin(strings.Split(clBrokers, ","), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkTopology checks what cluster mode promises: the topic has 3 replicas per partition and
// min.insync.replicas 2, the keyspace NetworkTopologyStrategy with 3 replicas.
func checkTopology(t *testing.T, topic string) {
	t.Helper()
	a := kafkaAdmin(t)
	defer a.Close()
	md, err := a.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError {
		t.Fatalf("describe %s: %v %+v", topic, err, md)
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("%s/%d has replicas %v, want 3", topic, p.ID, p.Replicas)
		}
	}
	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "2" {
		t.Errorf("%s min.insync.replicas: %+v %v, want 2", topic, entries, err)
	}

	cluster := gocql.NewCluster(strings.Split(clCQLHosts, ",")...)
	cluster.ProtoVersion = 4
	sess, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var repl map[string]string
	if err := sess.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'journal'`).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(repl["class"], "NetworkTopologyStrategy") || repl["datacenter1"] != "3" {
		t.Errorf("keyspace journal replication %v, want NetworkTopologyStrategy datacenter1=3", repl)
	}
	t.Logf("topology: %s has %d partitions of 3 replicas, min.insync.replicas 2; keyspace journal %v", topic, len(md[0].Partitions), repl)
}

// busiestLeader returns the broker leading the most partitions of topic, and those partitions.
func busiestLeader(t *testing.T, topic string) (int32, []int32) {
	t.Helper()
	a := kafkaAdmin(t)
	defer a.Close()
	md, err := a.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 {
		t.Fatalf("describe %s: %v", topic, err)
	}
	led := map[int32][]int32{}
	for _, p := range md[0].Partitions {
		led[p.Leader] = append(led[p.Leader], p.ID)
	}
	var best int32 = -1
	for b, ps := range led {
		if best == -1 || len(ps) > len(led[best]) || (len(ps) == len(led[best]) && b < best) {
			best = b
		}
	}
	return best, led[best]
}

// waitFullISR waits until every partition of topic has all 3 replicas in sync, and returns how long it took.
func waitFullISR(t *testing.T, topic string) time.Duration {
	t.Helper()
	var last string
	start := time.Now()
	for {
		a := kafkaAdmin(t)
		md, err := a.DescribeTopics([]string{topic})
		a.Close()
		full := err == nil && len(md) == 1 && len(md[0].Partitions) > 0
		if full {
			for _, p := range md[0].Partitions {
				if len(p.Isr) != 3 || p.Leader < 0 {
					full = false
					last = fmt.Sprintf("partition %d: leader %d isr %v", p.ID, p.Leader, p.Isr)
				}
			}
		} else {
			last = fmt.Sprint(err)
		}
		if full {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("%s not fully in sync after 2m: %s", topic, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
