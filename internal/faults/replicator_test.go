package faults_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// replicatorDown (item 4): with no replicator at all, 100 journals × 50 events, some deleted, some
// purged, read back exactly from the Kafka head; then the replicator starts, Cassandra catches up
// to exactly the same content, and the reads return the same results.
func replicatorDown(t *testing.T, s *stack) {
	s.must(t, "stop", "replicator")
	s.must(t, "start", "sidecar")
	topic := topicName("repl")
	m := newModel(topic)
	c := newClient(s.socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 100; i += 20 {
				id := fmt.Sprintf("j%03d", i)
				for b := int64(0); b < 5; b++ { // 5 appends of 10 events
					seqs := seqRange(b*10+1, b*10+10)
					if _, err := c.append(ctx, topic, id, 0, seqs...); err != nil {
						errs <- fmt.Errorf("append %s: %w", id, err)
						return
					}
					m.appended(id, seqs...)
				}
				var err error
				switch i % 10 {
				case 1: // delete a prefix
					if err = c.delete(ctx, topic, id, 20); err == nil {
						m.deleted(id, 20)
					}
				case 2: // delete everything: highest stays 50
					if err = c.delete(ctx, topic, id, 50); err == nil {
						m.deleted(id, 50)
					}
				case 3: // purge
					if err = c.purge(ctx, topic, id); err == nil {
						m.purged(id)
					}
				case 4: // purge, then a new history
					if err = c.purge(ctx, topic, id); err == nil {
						m.purged(id)
						if _, err = c.append(ctx, topic, id, 0, seqRange(1, 7)...); err == nil {
							m.appended(id, seqRange(1, 7)...)
						}
					}
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("100 journals × 50 events (10 with a delete to 20, 10 deleted to 50, 10 purged, 10 purged and re-appended 1..7) written in %v", time.Since(start).Round(time.Millisecond))

	cs := openCassandra(t)
	// Nothing of the topic is in Cassandra: the reads below are served from the Kafka head.
	for p := int32(0); p < 4; p++ {
		if _, ok, err := cs.Offset(ctx, topic, p); err != nil || ok {
			t.Fatalf("pointer2 of %s/%d exists (%v) before any replicator ran", topic, p, err)
		}
	}
	start = time.Now()
	m.checkReads(t, c)
	t.Logf("reads from the Kafka head: all 100 exact in %v", time.Since(start).Round(time.Millisecond))

	s.must(t, "start", "replicator")
	d := m.waitReplicated(t, cs, 90*time.Second)
	t.Logf("replicator caught up (Cassandra holds exactly the model) %v after its start", d.Round(time.Millisecond))
	start = time.Now()
	m.checkReads(t, c)
	t.Logf("reads after replication: all 100 exact in %v", time.Since(start).Round(time.Millisecond))
}
