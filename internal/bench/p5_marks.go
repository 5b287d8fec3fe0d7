package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// P5: Mark records written to Kafka per full read. Each repetition reads p5Reads journals of a topic of
// its own in full through the sidecar, then counts the Mark records on that topic, every partition
// from its oldest offset to its end.
func (e *env) runP5(ctx context.Context, r *report) error {
	const sc = "P5 marks"
	socket, err := e.sidecarSocket(ctx)
	if err != nil {
		return err
	}
	c, err := dialSidecar(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	payload := randomPayload(e.sz.payloadBytes)
	var readMs []float64 // every read's latency, for the p50/p99 rows
	pass := func(n int) (float64, error) {
		topic := e.name("p5")
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s_%04d", e.name("p5j"), i)
		}
		if _, err := e.appendAll(ctx, topic, ids, 1, 3, 3, payload); err != nil {
			return 0, err
		}
		before, err := e.countMarks(topic)
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			start := time.Now()
			res, err := c.readAll(ctx, topic, id, 256)
			readMs = append(readMs, ms(time.Since(start)))
			if err != nil {
				return 0, fmt.Errorf("read %s: %w", id, err)
			}
			if res.events != 3 || res.highest != 3 {
				return 0, fmt.Errorf("read %s: %d events, highest %d; want 3", id, res.events, res.highest)
			}
		}
		after, err := e.countMarks(topic)
		if err != nil {
			return 0, err
		}
		return float64(after-before) / float64(n), nil
	}
	e.log.Printf("P5: warm-up, %d reads", min(10, e.sz.p5Reads))
	if _, err := pass(min(10, e.sz.p5Reads)); err != nil {
		return fmt.Errorf("P5 warm-up: %w", err)
	}
	readMs = nil
	var per, p50, p99 []float64
	for rep := range e.sz.reps {
		e.log.Printf("P5: rep %d/%d, %d full reads", rep+1, e.sz.reps, e.sz.p5Reads)
		v, err := pass(e.sz.p5Reads)
		if err != nil {
			return fmt.Errorf("P5: %w", err)
		}
		per = append(per, v)
		p50, p99 = append(p50, percentile(readMs, 0.5)), append(p99, percentile(readMs, 0.99))
		readMs = nil
	}
	rw := r.add(sc, "Mark records per full read (counted on the topic)", "", per, 2)
	rw.target("==", 1)
	r.Summary["marks_per_read"] = round(rw.Value.Median, 3)
	r.add(sc, "full read of a 3-event journal via sidecar, p50 (sequential reads)", "ms", p50, 2)
	r.add(sc, "full read of a 3-event journal via sidecar, p99", "ms", p99, 2)
	return nil
}

// countMarks consumes every partition of topic from the oldest offset to the high-water mark and
// counts the records whose action is a Mark.
func (e *env) countMarks(topic string) (int, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "kjournal-bench-marks"
	cfg.Version = sarama.V4_0_0_0
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	client, err := sarama.NewClient(e.brokers, cfg)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	// The partitions are read at once: each sarama subscription takes a while to start.
	var mu sync.Mutex
	marks := 0
	var g errgroup
	for _, p := range parts {
		g.Go(func() error {
			hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return err
			}
			oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				return err
			}
			if hwm <= oldest {
				return nil
			}
			pc, err := consumer.ConsumePartition(topic, p, oldest)
			if err != nil {
				return err
			}
			n := 0
			for msg := range pc.Messages() {
				rec, ok, err := kafka.ActionRecordOf(msg)
				if err == nil && ok && rec.Action.Header.Kind() == journal.ActionMark {
					n++
				}
				if msg.Offset >= hwm-1 {
					break
				}
			}
			mu.Lock()
			marks += n
			mu.Unlock()
			if err := pc.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return marks, nil
}

// errgroup runs functions in goroutines and returns the first error of any.
type errgroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	}()
}

func (g *errgroup) Wait() error {
	g.wg.Wait()
	return g.err
}
