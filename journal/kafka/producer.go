package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// producer is the one sarama.AsyncProducer of a Log. Each produce enqueues its message with a pending
// of its own in Metadata; one goroutine (dispatch) hands every acknowledgement or error to its pending,
// which calls the caller's done. sarama batches whatever is enqueued within Linger into one produce
// request per broker, so concurrent appends share round trips instead of queueing behind each other's.
type producer struct {
	ap      sarama.AsyncProducer
	timeout time.Duration
	m       *metrics
	logger  hclog.Logger

	// mu guards closed and the input channel: produce sends under the read lock, close sets closed
	// under the write lock before closing the input, so no send ever hits a closed channel.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed when dispatch has handed back every result
}

// errProduceTimeout is the cause of the context a produce without an earlier deadline waits under.
var errProduceTimeout = errors.New("kafka: produce timeout")

// pending is one produced message until its result: the acknowledgement or error from dispatch, or
// the end of its context, whichever comes first (finished makes it once).
type pending struct {
	p        *producer
	key      journal.Key
	ctx      context.Context
	start    time.Time
	done     func(journal.PartitionOffset, error)
	finished atomic.Bool
	// release stops watching ctx (and cancels the produce timeout); set once the watch is registered,
	// which may be after the result came.
	release atomic.Pointer[func()]
}

func newProducer(client sarama.Client, cfg Config, m *metrics) (*producer, error) {
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, err
	}
	p := &producer{ap: ap, timeout: cfg.ProduceTimeout, m: m, logger: cfg.Logger, done: make(chan struct{})}
	go p.dispatch()
	return p, nil
}

// dispatch hands results back until sarama closes both channels, which it does after AsyncClose once
// every enqueued message has succeeded or failed.
func (p *producer) dispatch() {
	defer close(p.done)
	successes, errs := p.ap.Successes(), p.ap.Errors()
	for successes != nil || errs != nil {
		select {
		case msg, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			if pd, ok := msg.Metadata.(*pending); ok {
				pd.acknowledged(journal.PartitionOffset{Partition: msg.Partition, Offset: msg.Offset})
			}
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.m.produceErrors.Inc()
			if perr.Msg == nil {
				continue
			}
			if pd, ok := perr.Msg.Metadata.(*pending); ok {
				pd.failed(perr.Err)
			}
		}
	}
}

// produce enqueues msg and waits for Kafka's acknowledgement, ctx, or the produce timeout. When it
// returns early (ctx or timeout) the message stays enqueued and may still be written.
func (p *producer) produce(ctx context.Context, key journal.Key, msg *sarama.ProducerMessage) (journal.PartitionOffset, error) {
	type result struct {
		po  journal.PartitionOffset
		err error
	}
	res := make(chan result, 1)
	p.produceAsync(ctx, key, msg, func(po journal.PartitionOffset, err error) { res <- result{po, err} })
	r := <-res
	return r.po, r.err
}

// produceAsync enqueues msg and calls done once with what produce would return: from dispatch, from
// the goroutine that ends ctx, or before it returns when msg cannot be enqueued. It blocks only while
// sarama's input buffer is full. done must not block: it holds up every other result.
func (p *producer) produceAsync(ctx context.Context, key journal.Key, msg *sarama.ProducerMessage, done func(journal.PartitionOffset, error)) {
	pd := &pending{p: p, key: key, ctx: ctx, start: time.Now(), done: done}
	msg.Metadata = pd
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > p.timeout {
		ctx, cancel = context.WithTimeoutCause(ctx, p.timeout, errProduceTimeout)
		pd.ctx = ctx
	}
	if err := p.enqueue(ctx, msg); err != nil {
		if cancel != nil {
			cancel()
		}
		pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w", key, err))
		return
	}
	stop := context.AfterFunc(ctx, pd.expired)
	release := func() {
		stop()
		if cancel != nil {
			cancel()
		}
	}
	pd.release.Store(&release)
	if pd.finished.Load() { // the result came first: it could not release the watch
		release()
	}
}

func (pd *pending) acknowledged(po journal.PartitionOffset) {
	if pd.finish(po, nil) {
		pd.p.m.produceLatency.Observe(time.Since(pd.start).Seconds())
	}
}

func (pd *pending) failed(err error) {
	if tooLarge(err) {
		pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %w", pd.key, journal.ErrRecordTooLarge, err))
		return
	}
	pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %w", pd.key, journal.ErrKafkaUnavailable, err))
}

// expired runs when the context ends before the result: the message stays enqueued.
func (pd *pending) expired() {
	if context.Cause(pd.ctx) == errProduceTimeout {
		if pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: no acknowledgement within %s", pd.key, journal.ErrKafkaUnavailable, pd.p.timeout)) {
			pd.p.m.produceErrors.Inc()
		}
		return
	}
	pd.finish(journal.PartitionOffset{}, pd.ctx.Err())
}

// finish calls done unless another result came first; it reports whether it did.
func (pd *pending) finish(po journal.PartitionOffset, err error) bool {
	if !pd.finished.CompareAndSwap(false, true) {
		return false
	}
	if release := pd.release.Load(); release != nil {
		(*release)()
	}
	pd.done(po, err)
	return true
}

// enqueue hands msg to sarama. The send blocks only when sarama's input buffer is full.
func (p *producer) enqueue(ctx context.Context, msg *sarama.ProducerMessage) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return journal.ErrClosed
	}
	select {
	case p.ap.Input() <- msg:
		return nil
	case <-ctx.Done():
		if context.Cause(ctx) == errProduceTimeout {
			p.m.produceErrors.Inc()
			return fmt.Errorf("%w: producer queue full for %s", journal.ErrKafkaUnavailable, p.timeout)
		}
		return ctx.Err()
	}
}

// close stops accepting messages, lets sarama flush what is enqueued (each pending Produce gets its
// acknowledgement or error) and waits until every result was handed back.
func (p *producer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return
	}
	p.closed = true
	p.mu.Unlock()
	// Not ap.Close: it would drain Successes and Errors itself and steal the results from dispatch.
	p.ap.AsyncClose()
	<-p.done
}

// tooLarge reports whether a produce error means the record is too large: sarama refuses records
// over Producer.MaxMessageBytes itself (with a ConfigurationError), brokers over their
// max.message.bytes.
func tooLarge(err error) bool {
	var ce sarama.ConfigurationError
	return errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.Is(err, sarama.ErrMessageSetSizeTooLarge) ||
		errors.As(err, &ce) && strings.Contains(string(ce), "MaxMessageBytes")
}
