package faults_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kjournal/kjournal/protocol"
)

// kafkaKilled (item 2): a steady append load (20 journals, one event per append, timeout_ms 3000,
// a failed append retried with the same seqNr) while Kafka gets SIGKILL and is restarted. During the
// outage every append fails with a retryable code within its deadline, /readyz turns 503 and back;
// afterwards appends resume, every journal reads back exactly 1..N, and the replicator catches up.
func kafkaKilled(t *testing.T, s *stack) {
	s.must(t, "start", "kafka", "sidecar", "replicator")
	topic := topicName("kafka")
	m := newModel(topic)
	const workers = 20
	const timeoutMs = 3000
	clients := []*client{newClient(s.socket), newClient(s.socket)}
	for _, c := range clients {
		defer c.Close()
	}
	var stop atomic.Bool
	var mu sync.Mutex
	codes := map[string]int{}
	var slowest time.Duration
	var failures, successes atomic.Int64
	var lastSuccess atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, id := clients[w%len(clients)], fmt.Sprintf("j%02d", w)
			for n := int64(1); !stop.Load(); {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				_, err := c.append(ctx, topic, id, timeoutMs, n)
				took := time.Since(start)
				cancel()
				if err == nil {
					m.appended(id, n)
					n++
					successes.Add(1)
					lastSuccess.Store(time.Now().UnixNano())
					time.Sleep(20 * time.Millisecond)
					continue
				}
				failures.Add(1)
				mu.Lock()
				codes[fmt.Sprintf("%v retryable=%v", codeOf(err), retryable(err))]++
				slowest = max(slowest, took)
				mu.Unlock()
				if !retryable(err) {
					t.Errorf("%s: append %d failed with a non-retryable error: %v", id, n, err)
					return
				}
				time.Sleep(200 * time.Millisecond) // retry the same seqNr
			}
		}()
	}
	// /readyz sampled every 200ms.
	var ready []int
	var readyMu sync.Mutex
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		for !stop.Load() {
			code, _ := httpGet(sidecarHTTP, "/readyz")
			readyMu.Lock()
			if len(ready) == 0 || ready[len(ready)-1] != code {
				ready = append(ready, code)
			}
			readyMu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	before := successes.Load()
	killed := time.Now()
	s.must(t, "kill", "kafka")
	eventually(t, 20*time.Second, "/readyz not ready after the kill", func() bool {
		code, _ := httpGet(sidecarHTTP, "/readyz")
		return code == 503
	})
	t.Logf("/readyz 503 %v after the kill", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Duration(timeoutMs)*time.Millisecond + time.Second) // every worker has failed at least once
	duringOutage := successes.Load()
	d := s.must(t, "start", "kafka")
	restarted := time.Now()
	t.Logf("kafka down for %v (restart took %v)", restarted.Sub(killed).Round(time.Millisecond), d.Round(time.Millisecond))
	resumed := eventually(t, 60*time.Second, "appends resume", func() bool {
		return lastSuccess.Load() > restarted.UnixNano()
	})
	eventually(t, 60*time.Second, "/readyz ok again", func() bool {
		code, _ := httpGet(sidecarHTTP, "/readyz")
		return code == 200
	})
	t.Logf("appends resumed %v after kafka was ready again", resumed.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	<-readyDone

	mu.Lock()
	t.Logf("appends: %d acknowledged (%d before the kill, %d between kill and restart), %d failed: %v; slowest failure %v (timeout_ms %d)",
		successes.Load(), before, duringOutage-before, failures.Load(), codes, slowest.Round(time.Millisecond), timeoutMs)
	mu.Unlock()
	t.Logf("/readyz transitions: %v", ready)
	if failures.Load() == 0 {
		t.Fatal("no append failed while Kafka was down")
	}
	if slowest > time.Duration(timeoutMs)*time.Millisecond+2*time.Second {
		t.Errorf("a failed append took %v, over its deadline of %dms", slowest, timeoutMs)
	}
	for k := range codes {
		if k != fmt.Sprintf("%v retryable=true", protocol.CodeKafkaUnavailable) && k != fmt.Sprintf("%v retryable=true", protocol.CodeTimeout) {
			t.Errorf("unexpected failure %s", k)
		}
	}
	c := newClient(s.socket)
	defer c.Close()
	m.checkReads(t, c)
	t.Logf("all %d journals read back exactly (every acknowledged append, in order, no gap)", workers)
	cs := openCassandra(t)
	rd := m.waitReplicated(t, cs, 90*time.Second)
	t.Logf("replicator caught up: Cassandra holds exactly every journal %v after the load stopped", rd.Round(time.Millisecond))
}
