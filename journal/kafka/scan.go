package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
)

// Scan calls fn, in offset order, for each action of journal id (of every journal when id is "") in
// topic/partition with an offset in [from, to]; it implements journal.Log.
//
// It borrows a consumer from the pool (waiting, bounded by ctx, while Config.PoolSize scans run) and
// fetches the partition from from until it passes to. Records of other journals are skipped by key,
// without decoding. When from is below the partition's log start (the records were deleted by
// retention), the scan starts at the oldest record still there. Errors: ctx.Err() when ctx ends; as is
// when fn fails; journal.ErrDataIntegrity (and the codec's ErrInvalidRecord, and
// journal.ErrMalformedHeader for a header that does not parse) for a record of id that cannot be
// read, naming its topic, partition and offset; journal.ErrKafkaUnavailable when Kafka fails;
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
	s := &scanner{l: l, it: it, topic: topic, partition: partition, offset: from, fetchSize: defaultFetchSize}
	err = s.run(ctx, from, to, id, fn)
	if s.inFlight != nil {
		// ctx ended during a fetch: the connection answers it within the fetch wait; give the
		// consumer back once it has.
		go func() {
			r := <-s.inFlight
			l.pool.release(it, r.err != nil)
		}()
	} else {
		l.pool.release(it, s.broken)
	}
	return err
}

// scanner reads one partition range with Fetch requests of its own on a pooled client.
//
// It does not use a sarama.PartitionConsumer: sarama's consumer waits a fixed 100 ms to gather new
// subscriptions before its first fetch, and keeps fetching in the background until its close
// completes; a bounded scan that starts at every read needs neither. The records are those sarama
// decoded (decompressed) in the fetch response, turned into ConsumerMessages as sarama's consumer
// does, so the codec (ActionRecordOf) sees the same input either way.
type scanner struct {
	l         *Log
	it        *poolItem
	topic     string
	partition int32
	offset    int64 // next offset to fetch
	fetchSize int32
	broken    bool             // the item must not be reused
	inFlight  chan fetchResult // set when run returned during a fetch
}

type fetchResult struct {
	resp *sarama.FetchResponse
	err  error
}

const (
	scanLeaderRetries = 5
	scanRetryBackoff  = 50 * time.Millisecond
)

func (s *scanner) run(ctx context.Context, from, to int64, id string, fn func(journal.ActionRecord) error) error {
	retries := 0
	for {
		block, err := s.fetch(ctx)
		if err != nil {
			return err
		}
		switch {
		case errors.Is(block.Err, sarama.ErrNoError):
			retries = 0
		case errors.Is(block.Err, sarama.ErrOffsetOutOfRange) && retries < scanLeaderRetries:
			retries++ // the log start or end moved between the fetch and the offset lookup
			if err := s.clamp(from); err != nil {
				return err
			}
			continue
		case retriable(block.Err) && retries < scanLeaderRetries:
			// A leader moved: learn where it is now and fetch again.
			retries++
			_ = s.it.client.RefreshMetadata(s.topic)
			select {
			case <-time.After(scanRetryBackoff * time.Duration(retries)):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		default:
			s.broken = true
			return fmt.Errorf("scan %s/%d at %d: %w: %w", s.topic, s.partition, s.offset, journal.ErrKafkaUnavailable, block.Err)
		}

		done, progress, partial, err := s.visit(block, to, id, fn)
		if err != nil || done {
			return err
		}
		if progress {
			s.fetchSize = defaultFetchSize
			continue
		}
		switch {
		case partial:
			// A record batch larger than the fetch size: ask for more, as sarama's consumer does.
			if s.fetchSize >= maxFetchSize {
				s.broken = true
				return fmt.Errorf("scan %s/%d at %d: %w: %w", s.topic, s.partition, s.offset, journal.ErrKafkaUnavailable, sarama.ErrMessageTooLarge)
			}
			s.fetchSize = min(s.fetchSize*2, maxFetchSize)
		case s.offset < block.HighWaterMarkOffset && len(block.RecordsSet) == 0:
			// Records exist there but none came back: a batch left empty by compaction. Step over
			// the offset, as sarama's consumer does.
			s.offset++
		}
		// Otherwise the range is not written yet: the next fetch long-polls until it is.
	}
}

// fetch sends one Fetch request for s.offset to the partition's leader and returns the partition's
// block. When ctx ends first, the request stays in flight on s.inFlight.
func (s *scanner) fetch(ctx context.Context) (*sarama.FetchResponseBlock, error) {
	broker, err := s.it.client.Leader(s.topic, s.partition)
	if err != nil {
		s.broken = true
		return nil, fmt.Errorf("scan %s/%d: %w: leader: %w", s.topic, s.partition, journal.ErrKafkaUnavailable, err)
	}
	req := s.l.cfg.fetchRequest()
	req.AddBlock(s.topic, s.partition, s.offset, s.fetchSize, -1)
	ch := make(chan fetchResult, 1)
	go func() {
		resp, err := broker.Fetch(req)
		ch <- fetchResult{resp, err}
	}()
	var r fetchResult
	select {
	case r = <-ch:
	case <-ctx.Done():
		s.inFlight = ch
		return nil, ctx.Err()
	case <-s.l.closing:
		s.inFlight = ch
		return nil, journal.ErrClosed
	}
	if r.err != nil {
		s.broken = true
		_ = broker.Close()
		return nil, fmt.Errorf("scan %s/%d: %w: %w", s.topic, s.partition, journal.ErrKafkaUnavailable, r.err)
	}
	block := r.resp.GetBlock(s.topic, s.partition)
	if block == nil && r.resp.ThrottleTime > 0 { // over a quota: the broker asks us to wait
		select {
		case <-time.After(r.resp.ThrottleTime):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return s.fetch(ctx)
	}
	if block == nil {
		s.broken = true
		return nil, fmt.Errorf("scan %s/%d: %w: %w", s.topic, s.partition, journal.ErrKafkaUnavailable, sarama.ErrIncompleteResponse)
	}
	return block, nil
}

// visit hands the records of block at or after s.offset and up to to to fn (those of id), advancing
// s.offset. done reports that the scan passed to or that fn failed; progress that s.offset moved;
// partial that the block ended with an incomplete batch.
func (s *scanner) visit(block *sarama.FetchResponseBlock, to int64, id string, fn func(journal.ActionRecord) error) (done, progress, partial bool, err error) {
	start := s.offset
	partial = block.Partial
	for _, records := range block.RecordsSet {
		switch {
		case records.RecordBatch != nil:
			batch := records.RecordBatch
			if batch.PartialTrailingRecord {
				partial = true
			}
			if !batch.Control { // transaction markers carry no action
				for _, rec := range batch.Records {
					offset := batch.FirstOffset + rec.OffsetDelta
					if offset < s.offset {
						continue
					}
					if offset > to {
						return true, true, partial, nil
					}
					s.offset = offset + 1
					if id == "" && len(rec.Key) == 0 || id != "" && string(rec.Key) != id { // compares without allocating
						continue
					}
					timestamp := batch.FirstTimestamp.Add(rec.TimestampDelta)
					if batch.LogAppendTime {
						timestamp = batch.MaxTimestamp
					}
					action, ok, err := ActionRecordOf(&sarama.ConsumerMessage{
						Topic: s.topic, Partition: s.partition, Offset: offset,
						Key: rec.Key, Value: rec.Value, Headers: rec.Headers,
						Timestamp: timestamp, BlockTimestamp: batch.MaxTimestamp,
					})
					if err != nil {
						return true, true, partial, integrityError(string(rec.Key), err)
					}
					if ok {
						if err := fn(action); err != nil {
							return true, true, partial, err
						}
					}
				}
			}
			if !batch.PartialTrailingRecord {
				// Offsets of the batch without a record (compacted away, or a control batch).
				s.offset = max(s.offset, batch.LastOffset()+1)
			}
		case records.MsgSet != nil:
			// Message format v0/v1 has no headers, so none of its records is an action; only step
			// over them. A block's offset is that of its last (inner) message.
			if records.MsgSet.PartialTrailingMessage {
				partial = true
			}
			for _, mb := range records.MsgSet.Messages {
				s.offset = max(s.offset, mb.Offset+1)
			}
		}
	}
	return s.offset > to, s.offset > start, partial, nil
}

// clamp moves s.offset into the partition after an ErrOffsetOutOfRange: below the log start (the
// records were deleted by retention) to the oldest record, beyond the end to the end.
func (s *scanner) clamp(from int64) error {
	oldest, newest, err := offsetRange(s.it.client, s.topic, s.partition)
	if err != nil {
		s.broken = true
		return fmt.Errorf("scan %s/%d: %w", s.topic, s.partition, err)
	}
	if s.offset < oldest {
		s.l.logger.Warn("scan below the log start: records deleted by retention are skipped",
			"topic", s.topic, "partition", s.partition, "from", from, "log_start", oldest)
	}
	s.offset = min(max(s.offset, oldest), newest)
	return nil
}

// offsetRange returns the log start and end offsets of topic/partition.
func offsetRange(client sarama.Client, topic string, partition int32) (oldest, newest int64, err error) {
	if oldest, err = client.GetOffset(topic, partition, sarama.OffsetOldest); err != nil {
		return 0, 0, fmt.Errorf("%w: log start offset: %w", journal.ErrKafkaUnavailable, err)
	}
	if newest, err = client.GetOffset(topic, partition, sarama.OffsetNewest); err != nil {
		return 0, 0, fmt.Errorf("%w: log end offset: %w", journal.ErrKafkaUnavailable, err)
	}
	return oldest, newest, nil
}

// retriable reports the partition errors after which a fetch succeeds once the client learned the
// new leader (the ones sarama's consumer redispatches on).
func retriable(err error) bool {
	for _, e := range []error{
		sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition,
		sarama.ErrReplicaNotAvailable, sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// integrityError reports a record of journal id whose action cannot be read; err (from
// ActionRecordOf) names the topic, partition and offset.
func integrityError(id string, err error) error {
	return fmt.Errorf("journal %q: %w: %w", id, journal.ErrDataIntegrity, err)
}
