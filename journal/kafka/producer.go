package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// producer is the one sarama.AsyncProducer of a Log. Each Produce enqueues its message with a result
// channel of its own in Metadata; one goroutine (dispatch) hands every acknowledgement or error back to
// its caller. sarama batches whatever is enqueued within Linger into one produce request per broker,
// so concurrent appends share round trips instead of queueing behind each other's.
type producer struct {
	ap      sarama.AsyncProducer
	timeout time.Duration
	m       *metrics
	logger  hclog.Logger

	// mu guards closed and the input channel: Produce sends under the read lock, close sets closed
	// under the write lock before closing the input, so no send ever hits a closed channel.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed when dispatch has handed back every result
}

// produceResult is what dispatch sends back to one Produce call.
type produceResult struct {
	po  journal.PartitionOffset
	err error
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
			deliver(msg, produceResult{po: journal.PartitionOffset{Partition: msg.Partition, Offset: msg.Offset}})
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.m.produceErrors.Inc()
			deliver(perr.Msg, produceResult{err: perr.Err})
		}
	}
}

// deliver never blocks: the result channel has room for the one result, even when its caller left.
func deliver(msg *sarama.ProducerMessage, r produceResult) {
	if msg == nil {
		return
	}
	if ch, ok := msg.Metadata.(chan produceResult); ok {
		ch <- r
	}
}

// produce enqueues msg and waits for Kafka's acknowledgement, ctx, or the produce timeout. When it
// returns early (ctx or timeout) the message stays enqueued and may still be written.
func (p *producer) produce(ctx context.Context, key journal.Key, msg *sarama.ProducerMessage) (journal.PartitionOffset, error) {
	res := make(chan produceResult, 1)
	msg.Metadata = res
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	start := time.Now()

	if err := p.enqueue(ctx, timer.C, msg); err != nil {
		return journal.PartitionOffset{}, fmt.Errorf("produce %s: %w", key, err)
	}
	select {
	case r := <-res:
		if r.err != nil {
			if tooLarge(r.err) {
				return journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %w", key, journal.ErrRecordTooLarge, r.err)
			}
			return journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %w", key, journal.ErrKafkaUnavailable, r.err)
		}
		p.m.produceLatency.Observe(time.Since(start).Seconds())
		return r.po, nil
	case <-ctx.Done():
		return journal.PartitionOffset{}, ctx.Err()
	case <-timer.C:
		p.m.produceErrors.Inc()
		return journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: no acknowledgement within %s", key, journal.ErrKafkaUnavailable, p.timeout)
	}
}

// enqueue hands msg to sarama. The send blocks only when sarama's input buffer is full.
func (p *producer) enqueue(ctx context.Context, timeout <-chan time.Time, msg *sarama.ProducerMessage) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return journal.ErrClosed
	}
	select {
	case p.ap.Input() <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		p.m.produceErrors.Inc()
		return fmt.Errorf("%w: producer queue full for %s", journal.ErrKafkaUnavailable, p.timeout)
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
