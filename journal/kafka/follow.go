package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
)

const (
	followBackoffMin = 10 * time.Millisecond
	followBackoffMax = time.Second
	// followBackoffReset: a consumer that ran this long before failing restarts without delay
	// escalation, as the original's head cache resets its retry after a minute.
	followBackoffReset = time.Minute
	// followMaxBatch bounds the records handed to fn in one call.
	followMaxBatch = 1000
)

// Follow consumes every partition of topic, each from the offset in from (the oldest offset when a
// partition is missing or its offset is out of range), and calls fn with each fetched batch in offset
// order; it implements journal.Log. Calls of fn never overlap.
//
// One sarama.Consumer, on a client of its own, serves the whole topic. When it fails (a broker
// error, Kafka unreachable), Follow closes it and starts a new one after a backoff (10 ms doubling up
// to 1 s, with jitter), each partition re-seeking just after the last record fn was given, so fn
// sees every record once and in order. The partitions are listed when a consumer starts, so a
// partition added to the topic is followed after the next restart. Follow returns ctx.Err() when ctx
// ends and journal.ErrClosed when the Log is closed.
func (l *Log) Follow(ctx context.Context, topic string, from map[int32]int64, fn func(partition int32, batch []journal.LogRecord)) error {
	l.followMu.Lock()
	if l.isClosed() {
		l.followMu.Unlock()
		return journal.ErrClosed
	}
	l.follows.Add(1)
	l.followMu.Unlock()
	defer l.follows.Done()

	next := maps.Clone(from) // next offset to consume per partition; ours, the caller may reuse from
	if next == nil {
		next = map[int32]int64{}
	}
	backoff := followBackoffMin
	for {
		started := time.Now()
		delivered, err := l.followOnce(ctx, topic, next, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.isClosed() {
			return journal.ErrClosed
		}
		if delivered || time.Since(started) >= followBackoffReset {
			backoff = followBackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		l.logger.Warn("follow: consumer failed, restarting", "topic", topic, "error", err, "backoff", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			return journal.ErrClosed
		}
		backoff = min(backoff*2, followBackoffMax)
	}
}

// followBatch is one batch of one partition, on its way to fn.
type followBatch struct {
	partition int32
	records   []journal.LogRecord
}

// followOnce runs one consumer until it fails, ctx ends or the Log closes, advancing next past every
// record given to fn. delivered reports whether fn got anything.
func (l *Log) followOnce(ctx context.Context, topic string, next map[int32]int64, fn func(int32, []journal.LogRecord)) (delivered bool, err error) {
	client, err := sarama.NewClient(l.cfg.Brokers, l.cfg.consumerConfig())
	if err != nil {
		return false, fmt.Errorf("%w: follow %s: %w", journal.ErrKafkaUnavailable, topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		_ = client.Close()
		return false, fmt.Errorf("%w: follow %s: %w", journal.ErrKafkaUnavailable, topic, err)
	}
	l.m.consumerOpened(PurposeFollow)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	defer func() {
		close(stop)
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
		_ = consumer.Close()
		_ = client.Close()
		l.m.consumerClosed(PurposeFollow)
	}()

	partitions, err := topicPartitions(client, topic)
	if err != nil {
		return false, fmt.Errorf("follow %s: %w", topic, err)
	}
	batches := make(chan followBatch)
	failed := make(chan error, len(partitions))
	for _, p := range partitions {
		offset, ok := next[p]
		if !ok {
			offset = sarama.OffsetOldest
		}
		pc, err := l.consumePartition(client, consumer, topic, p, offset)
		if err != nil {
			return false, fmt.Errorf("follow %s/%d: %w", topic, p, err)
		}
		pcs = append(pcs, pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			followPartition(pc, topic, p, batches, failed, stop)
		}()
	}

	for {
		select {
		case b := <-batches:
			fn(b.partition, b.records)
			next[b.partition] = b.records[len(b.records)-1].Offset + 1
			delivered = true
		case err := <-failed:
			return delivered, err
		case <-ctx.Done():
			return delivered, ctx.Err()
		case <-l.closing:
			return delivered, journal.ErrClosed
		}
	}
}

// followPartition turns pc's messages into batches: it waits for one message, then takes the ones
// already buffered, up to followMaxBatch. The first consumer error ends it.
func followPartition(pc sarama.PartitionConsumer, topic string, partition int32, out chan<- followBatch, failed chan<- error, stop <-chan struct{}) {
	defer drain(pc)
	msgs, errs := pc.Messages(), pc.Errors()
	fail := func(err error) {
		failed <- fmt.Errorf("follow %s/%d: %w: %w", topic, partition, journal.ErrKafkaUnavailable, err)
	}
	for {
		var batch []journal.LogRecord
		select {
		case msg, ok := <-msgs:
			if !ok {
				fail(errors.New("consumer stopped"))
				return
			}
			batch = append(batch, logRecord(msg))
		case cerr, ok := <-errs:
			if ok {
				fail(cerr.Err)
			} else {
				fail(errors.New("consumer stopped"))
			}
			return
		case <-stop:
			return
		}
	more:
		for len(batch) < followMaxBatch {
			select {
			case msg, ok := <-msgs:
				if !ok {
					break more // delivered first, the next receive reports it
				}
				batch = append(batch, logRecord(msg))
			default:
				break more
			}
		}
		select {
		case out <- followBatch{partition: partition, records: batch}:
		case <-stop:
			return
		}
	}
}

// logRecord turns msg into what Follow hands out: the action for a record with a key and a known
// action header, with Err set when the header cannot be parsed.
func logRecord(msg *sarama.ConsumerMessage) journal.LogRecord {
	r := journal.LogRecord{Offset: msg.Offset}
	if msg.Key == nil {
		return r
	}
	r.ID = string(msg.Key)
	rec, ok, err := ActionRecordOf(msg)
	if err != nil {
		r.Err = integrityError(r.ID, err)
		return r
	}
	if ok {
		r.Action = &rec
	}
	return r
}

// consumePartition subscribes consumer to topic/partition at offset, or at the oldest offset when
// offset is sarama.OffsetOldest or out of range (below the log start: the records were deleted by
// retention; beyond the end: the topic was recreated).
func (l *Log) consumePartition(client sarama.Client, consumer sarama.Consumer, topic string, partition int32, offset int64) (sarama.PartitionConsumer, error) {
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) && offset >= 0 {
		oldest, newest, rerr := offsetRange(client, topic, partition)
		if rerr != nil {
			return nil, rerr
		}
		l.logger.Warn("follow: offset out of range, starting at the oldest record",
			"topic", topic, "partition", partition, "offset", offset, "log_start", oldest, "log_end", newest)
		pc, err = consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", journal.ErrKafkaUnavailable, err)
	}
	return pc, nil
}

// drain empties pc's channels until sarama closes them, after AsyncClose.
func drain(pc sarama.PartitionConsumer) {
	msgs, errs := pc.Messages(), pc.Errors()
	for msgs != nil || errs != nil {
		select {
		case _, ok := <-msgs:
			if !ok {
				msgs = nil
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
			}
		}
	}
}

// topicPartitions lists topic's partitions from client, refreshing its metadata when the topic is
// unknown to it or has none (just auto-created).
func topicPartitions(client sarama.Client, topic string) ([]int32, error) {
	ps, err := client.Partitions(topic)
	if err != nil || len(ps) == 0 {
		if rerr := client.RefreshMetadata(topic); rerr != nil {
			return nil, fmt.Errorf("%w: partitions of %s: %w", journal.ErrKafkaUnavailable, topic, rerr)
		}
		ps, err = client.Partitions(topic)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: partitions of %s: %w", journal.ErrKafkaUnavailable, topic, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: topic %s has no partitions", journal.ErrKafkaUnavailable, topic)
	}
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps, nil
}
