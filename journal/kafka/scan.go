package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
)

// Scan calls fn, in offset order, for each action of journal id in topic/partition with an offset in
// [from, to]; it implements journal.Log.
//
// It borrows a consumer from the pool (waiting, bounded by ctx, while Config.PoolSize scans run) and
// reads the partition from from until it passes to. Records of other journals are skipped by key,
// without decoding. When from is below the partition's log start (the records were deleted by
// retention), the scan starts at the oldest record still there. Errors: ctx.Err() when ctx ends; as is
// when fn fails; journal.ErrDataIntegrity (and journal.ErrMalformedHeader) for a record of id with an
// unparsable header, naming its offset; journal.ErrKafkaUnavailable when Kafka fails;
// journal.ErrClosed after Close.
func (l *Log) Scan(ctx context.Context, topic string, partition int32, from, to int64, id string, fn func(journal.ActionRecord) error) error {
	if l.isClosed() {
		return journal.ErrClosed
	}
	from = max(from, 0)
	if to < from {
		return nil
	}
	it, err := l.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("scan %s/%d: %w", topic, partition, err)
	}
	pc, err := l.startScan(ctx, it, topic, partition, from)
	if err != nil {
		return fmt.Errorf("scan %s/%d from %d: %w", topic, partition, from, err)
	}
	broken, err := l.scan(ctx, pc, topic, partition, from, to, id, fn)
	l.finishScan(it, pc, broken)
	return err
}

// finishScan closes pc and gives it back to the pool. Closing a partition consumer waits for the
// fetch in flight, which long-polls (up to scanMaxWait) once the scan read to the end of the
// partition; the scan has its answer, so the close completes in the background and the next scan
// of the item waits for it.
func (l *Log) finishScan(it *poolItem, pc sarama.PartitionConsumer, broken bool) {
	pc.AsyncClose()
	closed := make(chan struct{})
	go func() {
		drain(pc)
		close(closed)
	}()
	it.pending = closed
	l.pool.release(it, broken)
}

// startScan subscribes it's consumer to topic/partition at from. It gives up when ctx ends, leaving
// the subscription (which does not watch ctx) to be closed and the item released when it is done.
func (l *Log) startScan(ctx context.Context, it *poolItem, topic string, partition int32, from int64) (sarama.PartitionConsumer, error) {
	type started struct {
		pc  sarama.PartitionConsumer
		err error
	}
	ch := make(chan started, 1)
	go func() {
		pc, err := l.consumePartition(it.client, it.consumer, topic, partition, from, PurposeScan)
		ch <- started{pc, err}
	}()
	select {
	case s := <-ch:
		if s.err != nil {
			l.pool.release(it, true)
			return nil, s.err
		}
		return s.pc, nil
	case <-ctx.Done():
		go func() {
			if s := <-ch; s.err == nil {
				l.finishScan(it, s.pc, false)
			} else {
				l.pool.release(it, true)
			}
		}()
		return nil, ctx.Err()
	}
}

// consumePartition subscribes consumer to topic/partition at offset (or sarama.OffsetOldest). An
// offset out of range is clamped into the partition: one below the log start (the records were
// deleted by retention) starts at the oldest record, one beyond the end at the end.
func (l *Log) consumePartition(client sarama.Client, consumer sarama.Consumer, topic string, partition int32, offset int64, purpose string) (sarama.PartitionConsumer, error) {
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if !errors.Is(err, sarama.ErrOffsetOutOfRange) || offset < 0 {
		if err != nil {
			return nil, fmt.Errorf("%w: %w", journal.ErrKafkaUnavailable, err)
		}
		return pc, nil
	}
	oldest, err := client.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return nil, fmt.Errorf("%w: oldest offset: %w", journal.ErrKafkaUnavailable, err)
	}
	newest, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return nil, fmt.Errorf("%w: newest offset: %w", journal.ErrKafkaUnavailable, err)
	}
	start := min(max(offset, oldest), newest)
	if offset < oldest {
		l.logger.Warn("offset below the log start: records deleted by retention are skipped",
			"purpose", purpose, "topic", topic, "partition", partition, "offset", offset, "log_start", oldest)
	}
	pc, err = consumer.ConsumePartition(topic, partition, start)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) { // retention moved on meanwhile
		pc, err = consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", journal.ErrKafkaUnavailable, err)
	}
	return pc, nil
}

// scan reads pc until it passes to. broken reports a consumer error after which the pooled consumer
// should not be reused.
func (l *Log) scan(ctx context.Context, pc sarama.PartitionConsumer, topic string, partition int32, from, to int64, id string, fn func(journal.ActionRecord) error) (broken bool, err error) {
	msgs, errs := pc.Messages(), pc.Errors()
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				return true, fmt.Errorf("scan %s/%d: %w: consumer stopped", topic, partition, journal.ErrKafkaUnavailable)
			}
			if msg.Offset < from {
				continue // the start was clamped to the end of the partition
			}
			if msg.Offset > to {
				return false, nil
			}
			if string(msg.Key) == id { // compares without allocating
				rec, ok, err := ActionRecordOf(msg)
				if err != nil {
					return false, integrityError(id, err)
				}
				if ok {
					if err := fn(rec); err != nil {
						return false, err
					}
				}
			}
			if msg.Offset >= to {
				return false, nil
			}
		case cerr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// sarama would retry (after Consumer.Retry.Backoff); a scan serves a read with a deadline,
			// so it reports the failure at once and its caller may retry.
			return true, fmt.Errorf("scan %s/%d: %w: %w", topic, partition, journal.ErrKafkaUnavailable, cerr.Err)
		case <-ctx.Done():
			return false, ctx.Err()
		case <-l.closing:
			return false, journal.ErrClosed
		}
	}
}

// integrityError reports a record of journal id whose action cannot be read; err (from
// ActionRecordOf) names the topic, partition and offset.
func integrityError(id string, err error) error {
	return fmt.Errorf("journal %q: %w: %w", id, journal.ErrDataIntegrity, err)
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
