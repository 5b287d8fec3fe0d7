package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// Log is journal.Log on Kafka: one shared idempotent producer (producer.go), a bounded pool of scan consumers, and a consumer
// per Follow call. It is safe for concurrent use. Close it to flush the producer and release the
// connections.
type Log struct {
	cfg    Config
	logger hclog.Logger
	m      *metrics

	client sarama.Client // the producer's; also answers Partitions
	prod   *producer
	pool   *pool

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
	follows   sync.WaitGroup // running Follow calls
	followMu  sync.Mutex     // orders follows.Add against Close's Wait
}

var _ journal.Log = (*Log)(nil)

// New connects to Kafka and returns a Log. It fails when cfg is invalid or no broker answers.
func New(cfg Config) (*Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Registerer)
	client, err := sarama.NewClient(cfg.Brokers, cfg.producerConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka: %w: %w", journal.ErrKafkaUnavailable, err)
	}
	prod, err := newProducer(client, cfg, m)
	if err != nil { // the idempotent producer asks a broker for its producer id at once
		_ = client.Close()
		return nil, fmt.Errorf("kafka: producer: %w: %w", journal.ErrKafkaUnavailable, err)
	}
	return &Log{
		cfg:     cfg,
		logger:  cfg.Logger,
		m:       m,
		client:  client,
		prod:    prod,
		pool:    newPool(cfg, m),
		closing: make(chan struct{}),
	}, nil
}

// Produce writes one action and returns its partition and offset once Kafka acknowledged it (acks=all,
// idempotent); it implements journal.Log. Concurrent calls are batched into produce requests.
//
// When ctx ends first Produce returns ctx.Err(), and when Config.ProduceTimeout passes first an error
// wrapping journal.ErrKafkaUnavailable; in both cases the action stays enqueued and may still be
// written. A failed write wraps journal.ErrKafkaUnavailable and the sarama error; an action that
// cannot become a record wraps ErrInvalidAction; after Close, journal.ErrClosed.
func (l *Log) Produce(ctx context.Context, a journal.Action) (journal.PartitionOffset, error) {
	r, err := recordOf(a)
	if err != nil {
		return journal.PartitionOffset{}, err
	}
	return l.prod.produce(ctx, a.Key, a.Timestamp, r)
}

// ProduceAsync is Produce without waiting for the acknowledgement; it implements journal.Log. It
// returns once the action is enqueued (it blocks only while the producer's input buffer is full), and
// calls done once with what Produce would have returned, from the producer's result goroutine or
// the one that ends ctx (or before it returns, when the action is not enqueued). done must not block.
func (l *Log) ProduceAsync(ctx context.Context, a journal.Action, done func(journal.PartitionOffset, error)) {
	r, err := recordOf(a)
	if err != nil {
		done(journal.PartitionOffset{}, err)
		return
	}
	l.prod.produceAsync(ctx, a.Key, a.Timestamp, r, done)
}

// Partitions lists the partitions of topic, sorted; it implements journal.Log. A topic the client does
// not know yet is looked up again (with auto-creation on, as in the local stack, that creates it).
func (l *Log) Partitions(ctx context.Context, topic string) ([]int32, error) {
	if l.isClosed() {
		return nil, journal.ErrClosed
	}
	type result struct {
		ps  []int32
		err error
	}
	ch := make(chan result, 1)
	go func() { // sarama's metadata requests do not watch ctx
		ps, err := topicPartitions(l.client, topic)
		ch <- result{ps, err}
	}()
	select {
	case r := <-ch:
		return r.ps, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ConsumersOpened returns how many consumers this Log has opened for purpose (PurposeScan or
// PurposeFollow) since New; the metric kjournal_kafka_consumers_opened_total counts the same.
func (l *Log) ConsumersOpened(purpose string) int64 { return l.m.opened(purpose) }

// Close flushes the producer (every pending Produce gets its acknowledgement or error), ends running
// Scans and Follows with journal.ErrClosed (waiting for a callback of theirs that is running to
// return), closes their consumers and the client. Calls after the first return the first's result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.followMu.Lock()
		close(l.closing)
		l.followMu.Unlock()
		l.prod.close()
		l.pool.close()
		l.follows.Wait()
		if err := l.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
			l.closeErr = fmt.Errorf("kafka: close: %w", err)
		}
	})
	return l.closeErr
}

func (l *Log) isClosed() bool {
	select {
	case <-l.closing:
		return true
	default:
		return false
	}
}

// EndOffsets returns, per partition of topic, the offset the next record will get (the log end): where
// a subscription "from latest" starts. Optional for a journal.Log; journal uses it when present.
func (l *Log) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	ps, err := l.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	type result struct {
		ends map[int32]int64
		err  error
	}
	ch := make(chan result, 1)
	go func() { // sarama's offset requests do not watch ctx
		ends := make(map[int32]int64, len(ps))
		for _, p := range ps {
			o, err := l.client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				ch <- result{nil, fmt.Errorf("kafka: %s/%d: %w: log end offset: %w", topic, p, journal.ErrKafkaUnavailable, err)}
				return
			}
			ends[p] = o
		}
		ch <- result{ends, nil}
	}()
	select {
	case r := <-ch:
		return r.ends, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
