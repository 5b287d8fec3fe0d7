package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// producer is the Log's idempotent Kafka producer, built on sarama's client (metadata, broker
// connections, request encoding) instead of sarama's AsyncProducer. The AsyncProducer moves every
// message through four goroutines and channels (input, topic, partition, broker) and back through
// two more for the result; at tens of thousands of appends a second those hand-offs cost more CPU
// than the rest of an append. Here a produce appends its record to its partition's queue under a
// mutex; one sender goroutine per broker turns whatever is queued into one produce request; the
// broker connection's response goroutine hands each record its offset. The hand-offs are per request,
// not per record.
//
// Ordering and idempotence (acks=all, a producer id with per-partition sequence numbers, as the
// Java client's enable.idempotence): a partition has at most one batch out at a time, so its records
// reach the log in the order they were queued, and a batch that is retried is resent with the same
// producer id and sequence, which the broker deduplicates. When a batch fails with its outcome
// unknown (retries exhausted), the partition takes a new producer id before its next batch, so the
// sequence the broker expects is never guessed. One batch out per partition is also what keeps this
// simple: no reordering of in-flight batches after an error, as the Java client must do for five.
type producer struct {
	client  sarama.Client
	timeout time.Duration // Config.ProduceTimeout: a produce's own wait, and how long a batch is retried
	linger  time.Duration // Config.Linger
	retries int           // at least this many attempts before a batch is given up
	backoff time.Duration // before the first retry; doubled up to maxBackoff
	// maxRecord bounds one record (Config.MaxMessageBytes), maxBatch a batch's records before
	// compression (and so the request, under the broker's message.max.bytes of 1 MiB by default).
	maxRecord, maxBatch int
	codec               sarama.CompressionCodec
	acks                sarama.RequiredAcks
	ackTimeout          int32 // ms the broker waits for the in-sync replicas
	version             int16 // of the produce request
	m                   *metrics
	logger              hclog.Logger

	// mu guards closed and parts. produce holds it shared while it counts a record in pending; close
	// takes it exclusively to set closed, so no record is counted after close started waiting.
	mu      sync.RWMutex
	closed  bool
	parts   map[topicPartition]*partition
	pending sync.WaitGroup // one per record enqueued and not yet acknowledged or given up

	sendersMu sync.RWMutex
	senders   map[int32]*sender // by broker id

	pidMu sync.Mutex
	pid   producerID

	// callbacks counts the goroutines running a produce response's callback (a broker connection's
	// response goroutine): a send is made inline only when it is 0, so never from one of them.
	callbacks atomic.Int32

	// The records held (queued or in flight) count against bufferBytes (Config.BufferBytes, Java's
	// buffer.memory): a produce waits while it is full, so a client that appends faster than Kafka
	// takes them, or while Kafka is down, is pushed back instead of growing the sidecar's memory.
	bufferBytes int
	bufMu       sync.Mutex
	buffered    int
	bufFree     chan struct{} // closed when bytes are released; made by a produce that waits
}

type topicPartition struct {
	topic string
	id    int32
}

type producerID struct {
	id    int64
	epoch int16
}

// partition is one partition's queue and idempotence state.
type partition struct {
	tp topicPartition

	mu    sync.Mutex
	queue []*pending // enqueued, not yet in a batch, in order
	// busy: a batch of this partition is out (waiting in a sender, in flight, or waiting to be
	// retried). At most one is: that is what keeps the partition's records in order.
	busy  bool
	retry *batch // a batch to send again before anything in queue
	limit int    // records per batch after MESSAGE_TOO_LARGE; 0 = no limit
	pid   producerID
	seq   int32 // the sequence of the next batch's first record under pid
	// renew: a batch failed with its outcome unknown; take a new producer id before the next one.
	renew bool
}

// batch is one partition's records in one produce request.
type batch struct {
	part     *partition
	recs     []*pending
	bytes    int
	pid      producerID
	seq      int32
	attempts int       // sends so far
	first    time.Time // first send: retries end ProduceTimeout after it (and after retries attempts)
}

// sender sends the produce requests of one broker: each request holds a batch of every partition
// that has records ready. Requests to a broker go out one at a time (sarama's MaxOpenRequests 1): the
// broker answers a connection's requests in order anyway, and the records that arrive while one is in
// flight make the next request larger instead of adding one.
type sender struct {
	p        *producer
	mu       sync.Mutex
	b        *sarama.Broker // the broker's current connection object (the client may replace it)
	next     []*partition   // partitions with records ready, in the order they became ready
	sending  bool           // a goroutine is building or writing a request
	inflight int            // requests of ours sent and not answered yet
	wake     chan struct{}  // capacity 1: something changed that may let the sender goroutine send
	stop     chan struct{}
}

// errRenewProducerID is the cause recover logs when a partition takes a new producer id before its
// next batch.
var errRenewProducerID = errors.New("kafka: the last batch's outcome is unknown")

// errProduceTimeout is the cause of the context a produce without an earlier deadline waits under.
var errProduceTimeout = errors.New("kafka: produce timeout")

// pending is one produced record until its result: the acknowledgement or error from the producer,
// or the end of its context, whichever comes first (finished makes it once).
type pending struct {
	p        *producer
	key      journal.Key
	rec      sarama.Record           // TimestampDelta and OffsetDelta are set per batch
	headers  [2]*sarama.RecordHeader // rec.Headers' backing array for up to 2 headers
	ts       int64                   // the record's timestamp, Unix ms
	size     int                     // rec's size in a batch, at most
	ctx      context.Context
	start    time.Time
	done     func(journal.PartitionOffset, error)
	finished atomic.Bool
	// release stops watching ctx (and cancels the produce timeout); set once the watch is registered,
	// which may be after the result came.
	release atomic.Pointer[func()]
}

const (
	maxBackoff = time.Second
	// recordOverhead bounds a record's framing in a batch: length, attributes, timestamp and offset
	// deltas, key and value lengths, header count (varints), as sarama's maximumRecordOverhead.
	recordOverhead = 5*5 + 10 + 1
	headerOverhead = 2 * 5
	// batchOverhead is a record batch's header (61 bytes) with room to spare.
	batchOverhead = 64
)

func newProducer(client sarama.Client, cfg Config, m *metrics) (*producer, error) {
	conf := client.Config()
	p := &producer{
		client:      client,
		timeout:     cfg.ProduceTimeout,
		linger:      cfg.Linger,
		retries:     cfg.Retries,
		backoff:     conf.Producer.Retry.Backoff,
		maxRecord:   cfg.MaxMessageBytes,
		bufferBytes: cfg.BufferBytes,
		maxBatch:    min(cfg.MaxMessageBytes, defaultMaxMessageBytes),
		codec:       conf.Producer.Compression,
		acks:        conf.Producer.RequiredAcks,
		ackTimeout:  int32(conf.Producer.Timeout / time.Millisecond),
		version:     produceRequestVersion(cfg.Version),
		m:           m,
		logger:      cfg.Logger,
		parts:       make(map[topicPartition]*partition),
		senders:     make(map[int32]*sender),
	}
	pid, err := p.initProducerID()
	if err != nil {
		return nil, err
	}
	p.pid = pid
	return p, nil
}

// produceRequestVersion is the produce request version sarama's own producer sends for version.
func produceRequestVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V3_7_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_8_0_0):
		return 9
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	default: // Config requires V2_1_0_0 at least
		return 7
	}
}

// initProducerID asks a broker for a new producer id. A broker that has just started answers
// COORDINATOR_LOAD_IN_PROGRESS (or has no coordinator yet) for a few seconds: that is waited out,
// with backoff, for up to ProduceTimeout, as sarama's transaction manager retries it.
func (p *producer) initProducerID() (producerID, error) {
	deadline := time.Now().Add(p.timeout)
	for attempt := 0; ; attempt++ {
		res, err := p.client.InitProducerID()
		if err == nil {
			err = res.Err
		}
		if errors.Is(err, sarama.ErrNoError) || err == nil {
			return producerID{id: res.ProducerID, epoch: res.ProducerEpoch}, nil
		}
		retriable := errors.Is(err, sarama.ErrOffsetsLoadInProgress) || errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) ||
			errors.Is(err, sarama.ErrNotCoordinatorForConsumer)
		wait := p.backoffFor(attempt)
		if !retriable || time.Now().Add(wait).After(deadline) {
			return producerID{}, err
		}
		p.logger.Debug("producer id: retrying", "error", err, "attempt", attempt+1)
		time.Sleep(wait)
	}
}

// backoffFor is the wait before retry attempt+1: Retry.Backoff doubled per attempt, at most maxBackoff
// (the shift is capped so that a large Retries cannot overflow it).
func (p *producer) backoffFor(attempt int) time.Duration {
	return min(p.backoff<<min(attempt, 10), maxBackoff)
}

// renewProducerID returns a producer id other than old: the current one if another partition has
// renewed it already, else a new one from a broker.
func (p *producer) renewProducerID(old producerID) (producerID, error) {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pid != old {
		return p.pid, nil
	}
	pid, err := p.initProducerID()
	if err != nil {
		return producerID{}, err
	}
	p.logger.Debug("new producer id", "old", old.id, "new", pid.id)
	p.pid = pid
	return pid, nil
}

func (p *producer) currentProducerID() producerID {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	return p.pid
}

// produce enqueues rec and waits for Kafka's acknowledgement, ctx, or the produce timeout. When it
// returns early (ctx or timeout) the record stays enqueued and may still be written.
func (p *producer) produce(ctx context.Context, key journal.Key, ts time.Time, r record) (journal.PartitionOffset, error) {
	type result struct {
		po  journal.PartitionOffset
		err error
	}
	res := make(chan result, 1)
	p.produceAsync(ctx, key, ts, r, func(po journal.PartitionOffset, err error) { res <- result{po, err} })
	out := <-res
	return out.po, out.err
}

// produceAsync enqueues r and calls done once with what produce would return: from a broker's
// response goroutine, from the goroutine that ends ctx, or before it returns when r cannot be
// enqueued. done must not block: it holds up the other results of its response.
func (p *producer) produceAsync(ctx context.Context, key journal.Key, ts time.Time, r record, done func(journal.PartitionOffset, error)) {
	pd := &pending{p: p, key: key, ctx: ctx, start: time.Now(), done: done}
	if ts.IsZero() {
		ts = pd.start
	}
	pd.ts = ts.UnixMilli()
	pd.rec = sarama.Record{Key: r.key, Value: r.value}
	pd.size = recordOverhead + len(r.key) + len(r.value)
	hs := pd.headers[:0]
	for i := range r.headers {
		hs = append(hs, &r.headers[i])
		pd.size += headerOverhead + len(r.headers[i].Key) + len(r.headers[i].Value)
	}
	pd.rec.Headers = hs
	if pd.size > p.maxRecord {
		p.m.produceErrors.Inc()
		pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %d bytes, over the producer's limit of %d", key, journal.ErrRecordTooLarge, pd.size, p.maxRecord))
		return
	}
	if err := ctx.Err(); err != nil {
		pd.finish(journal.PartitionOffset{}, err)
		return
	}
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > p.timeout {
		ctx, cancel = context.WithTimeoutCause(ctx, p.timeout, errProduceTimeout)
		pd.ctx = ctx
	}
	if err := p.enqueue(ctx, pd); err != nil {
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

// enqueue appends pd to its partition's queue and, when the partition has no batch out, hands the
// partition to its leader's sender.
func (p *producer) enqueue(ctx context.Context, pd *pending) error {
	part, err := p.partitionOf(ctx, pd.key)
	if err != nil {
		return err
	}
	if err := p.reserve(ctx, pd.size); err != nil {
		return err
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.release(pd.size)
		return journal.ErrClosed
	}
	p.pending.Add(1)
	p.mu.RUnlock()
	part.mu.Lock()
	part.queue = append(part.queue, pd)
	idle := !part.busy
	part.busy = true
	part.mu.Unlock()
	if idle {
		p.schedule(part)
	}
	return nil
}

// partitionOf returns the queue of the partition the Java client's partitioner picks for key.
func (p *producer) partitionOf(ctx context.Context, key journal.Key) (*partition, error) {
	// client.Partitions answers from the client's metadata, fetching the topic's on first use
	// (which auto-creates it where the brokers allow). A topic just created has no partitions in the
	// metadata for a moment: that is waited out, as sarama's producer does with its retries (only
	// on a topic's first use, so the caller waiting here is no cost on the hot path).
	var ps []int32
	var err error
	for attempt := 0; ; attempt++ {
		ps, err = p.client.Partitions(key.Topic)
		if err == nil && len(ps) == 0 {
			err = sarama.ErrLeaderNotAvailable
		}
		if err == nil || errors.Is(err, sarama.ErrClosedClient) || attempt+1 >= p.retries ||
			!errors.Is(err, sarama.ErrUnknownTopicOrPartition) && !errors.Is(err, sarama.ErrLeaderNotAvailable) {
			break
		}
		select {
		case <-time.After(p.backoffFor(attempt)):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	if err != nil {
		if errors.Is(err, sarama.ErrClosedClient) {
			return nil, journal.ErrClosed
		}
		p.m.produceErrors.Inc()
		return nil, fmt.Errorf("%w: partitions of %s: %w", journal.ErrKafkaUnavailable, key.Topic, err)
	}
	tp := topicPartition{key.Topic, PartitionForKey(key.ID, int32(len(ps)))}
	p.mu.RLock()
	part := p.parts[tp]
	p.mu.RUnlock()
	if part != nil {
		return part, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if part = p.parts[tp]; part == nil {
		part = &partition{tp: tp, pid: p.currentProducerID()}
		p.parts[tp] = part
	}
	return part, nil
}

// schedule hands a busy partition to its leader's sender; when the leader is unknown, it retries
// after a metadata refresh.
func (p *producer) schedule(part *partition) {
	b, err := p.client.Leader(part.tp.topic, part.tp.id)
	if err != nil {
		// Retried as an attempt of the partition's next batch, so a partition without a leader
		// gives its records up in time like any other failed batch.
		part.mu.Lock()
		bt := p.takeBatchLocked(part)
		part.mu.Unlock()
		if bt != nil {
			bt.attempted()
			go p.recover(part, bt, err, false)
		}
		return
	}
	p.senderOf(b).add(part, true)
}

func (p *producer) senderOf(b *sarama.Broker) *sender {
	p.sendersMu.RLock()
	s := p.senders[b.ID()]
	p.sendersMu.RUnlock()
	if s == nil {
		p.sendersMu.Lock()
		if s = p.senders[b.ID()]; s == nil {
			s = &sender{p: p, b: b, wake: make(chan struct{}, 1), stop: make(chan struct{})}
			p.senders[b.ID()] = s
			go s.run()
		}
		p.sendersMu.Unlock()
	}
	s.mu.Lock()
	s.b = b // after a metadata refresh the client may hold a new Broker for the same id
	s.mu.Unlock()
	return s
}

// add hands the sender a partition with records ready. When the broker has no request of ours in
// flight and may is true, the calling goroutine sends the request itself: a lone append then reaches
// Kafka without waking the sender goroutine (on this 2-core machine a sequential append through the
// sidecar took ~0.1 ms longer with the hand-off). Never on a connection's response goroutine
// (callbacks > 0): AsyncProduce there could wait for that same goroutine.
func (s *sender) add(part *partition, may bool) {
	p := s.p
	s.mu.Lock()
	s.next = append(s.next, part)
	if !may || s.sending || s.inflight > 0 || p.linger > 0 || p.callbacks.Load() > 0 {
		s.mu.Unlock()
		s.wakeUp()
		return
	}
	parts, b := s.next, s.b
	s.next, s.sending = nil, true
	s.mu.Unlock()
	s.send(b, parts)
	s.mu.Lock()
	s.sending = false
	more := len(s.next) > 0
	s.mu.Unlock()
	if more {
		s.wakeUp()
	}
}

func (s *sender) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run sends what is ready whenever the broker has no request of ours in flight: the records that
// arrive while one is in flight go out together in the next request.
func (s *sender) run() {
	var spare []*partition
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
		if s.p.linger > 0 {
			time.Sleep(s.p.linger)
		}
		s.mu.Lock()
		if s.sending || s.inflight > 0 || len(s.next) == 0 {
			s.mu.Unlock() // whoever sends, or the response, wakes this goroutine again
			continue
		}
		parts, b := s.next, s.b
		s.next, s.sending = spare[:0], true
		s.mu.Unlock()
		s.send(b, parts)
		s.mu.Lock()
		s.sending = false
		s.mu.Unlock()
		clear(parts)
		spare = parts
	}
}

// sent counts a request of ours out of flight and wakes the sender goroutine if records wait.
func (s *sender) sent() {
	s.mu.Lock()
	s.inflight--
	more := len(s.next) > 0
	s.mu.Unlock()
	if more {
		s.wakeUp()
	}
}

// send sends one request with a batch of each of parts.
func (s *sender) send(b *sarama.Broker, parts []*partition) {
	p := s.p
	req := &sarama.ProduceRequest{RequiredAcks: p.acks, Timeout: p.ackTimeout, Version: p.version}
	batches := make([]*batch, 0, len(parts))
	for _, part := range parts {
		bt := p.nextBatch(part)
		if bt == nil {
			continue
		}
		bt.attempted()
		req.AddBatch(part.tp.topic, part.tp.id, p.recordBatch(bt))
		batches = append(batches, bt)
	}
	if len(batches) == 0 {
		return
	}
	p.m.produceRequests.Inc()
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
	// The callback runs on the connection's response goroutine, which must not call the broker.
	err := b.AsyncProduce(req, func(res *sarama.ProduceResponse, err error) {
		p.callbacks.Add(1)
		p.handle(s, b, batches, res, err)
		p.callbacks.Add(-1)
		// Out of flight only now: a request sent before this goroutine is back at reading responses
		// would wait for it (sarama hands promises over unbuffered with one request in flight).
		s.sent()
	})
	if err != nil { // not sent: the callback will not run
		s.sent()
		p.handle(s, b, batches, nil, err)
	}
}

// nextBatch takes the partition's next batch: the one to retry, else the queued records up to the
// batch limits. It returns nil when nothing is queued (the partition goes idle), and when the
// partition must take a new producer id first (recover does that, then schedules it again).
func (p *producer) nextBatch(part *partition) *batch {
	part.mu.Lock()
	defer part.mu.Unlock()
	if part.renew && part.retry == nil && len(part.queue) > 0 {
		go p.recover(part, nil, errRenewProducerID, true) // a broker round trip: not on the sender
		return nil
	}
	return p.takeBatchLocked(part)
}

// takeBatchLocked is nextBatch without the producer id check; part.mu is held.
func (p *producer) takeBatchLocked(part *partition) *batch {
	if bt := part.retry; bt != nil {
		part.retry = nil
		return bt
	}
	if len(part.queue) == 0 {
		part.busy = false
		return nil
	}
	bt := &batch{part: part, pid: part.pid, seq: part.seq, bytes: batchOverhead}
	n := 0
	for n < len(part.queue) && (part.limit == 0 || n < part.limit) {
		size := part.queue[n].size
		if n > 0 && bt.bytes+size > p.maxBatch {
			break
		}
		bt.bytes += size
		n++
	}
	bt.recs = append(make([]*pending, 0, n), part.queue[:n]...)
	clear(part.queue[:n])
	part.queue = part.queue[n:]
	if len(part.queue) == 0 {
		part.queue = part.queue[:0:0] // let the drained array go rather than grow behind the slice
	}
	return bt
}

// recordBatch encodes bt as Kafka's record batch v2: the producer id and first sequence make a
// resend of it a duplicate the broker recognises. Timestamps are the actions' own, as the original's.
func (p *producer) recordBatch(bt *batch) *sarama.RecordBatch {
	first := bt.recs[0].ts
	rb := &sarama.RecordBatch{
		Version:         2,
		Codec:           p.codec,
		FirstTimestamp:  time.UnixMilli(first),
		ProducerID:      bt.pid.id,
		ProducerEpoch:   bt.pid.epoch,
		FirstSequence:   bt.seq,
		LastOffsetDelta: int32(len(bt.recs) - 1),
		Records:         make([]*sarama.Record, len(bt.recs)),
	}
	maxTS := first
	for i, pd := range bt.recs {
		r := &pd.rec
		r.OffsetDelta = int64(i)
		r.TimestampDelta = time.Duration(pd.ts-first) * time.Millisecond
		maxTS = max(maxTS, pd.ts)
		rb.Records[i] = r
	}
	rb.MaxTimestamp = time.UnixMilli(maxTS)
	return rb
}

// handle takes the response to a request (or the error that ended it) on the broker connection's
// response goroutine, or on the sender when the request could not be sent.
func (p *producer) handle(s *sender, b *sarama.Broker, batches []*batch, res *sarama.ProduceResponse, err error) {
	if err != nil {
		// The connection failed: whether the broker wrote the batches is unknown. Resending them
		// with the same sequences is safe, over a new connection.
		go func() {
			_ = b.Close() // not on the response goroutine: Close waits for it
			for _, bt := range batches {
				go p.recover(bt.part, bt, err, false)
			}
		}()
		return
	}
	for _, bt := range batches {
		blk := res.GetBlock(bt.part.tp.topic, bt.part.tp.id)
		if blk == nil {
			go p.recover(bt.part, bt, sarama.ErrIncompleteResponse, false)
			continue
		}
		switch blk.Err {
		case sarama.ErrNoError:
			p.acknowledged(s, bt, blk.Offset)
		case sarama.ErrInvalidMessage, sarama.ErrUnknownTopicOrPartition, sarama.ErrLeaderNotAvailable,
			sarama.ErrNotLeaderForPartition, sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas,
			sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrKafkaStorageError, sarama.ErrNetworkException,
			sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch, sarama.ErrBrokerNotAvailable,
			sarama.ErrReplicaNotAvailable:
			go p.recover(bt.part, bt, blk.Err, false)
		case sarama.ErrOutOfOrderSequenceNumber, sarama.ErrUnknownProducerID, sarama.ErrInvalidProducerEpoch:
			// The broker refused the batch (it wrote nothing) because it no longer has, or never had,
			// this producer id's state for the partition: resend it under a new producer id.
			go p.recover(bt.part, bt, blk.Err, true)
		case sarama.ErrMessageSizeTooLarge, sarama.ErrMessageSetSizeTooLarge:
			p.tooLarge(s, bt, blk.Err)
		case sarama.ErrDuplicateSequenceNumber:
			// Written earlier, but the broker no longer knows at which offset (it keeps the last five
			// batches of a producer): the caller cannot be told where. The next batch takes a new id.
			p.failed(s, bt, fmt.Errorf("%w: written, offset unknown: %w", journal.ErrKafkaUnavailable, blk.Err), true)
		default:
			// Refused, nothing written (authorization, invalid record, ...): the sequence stays.
			p.failed(s, bt, fmt.Errorf("%w: %w", journal.ErrKafkaUnavailable, blk.Err), false)
		}
	}
}

// acknowledged: bt is in the log from offset base on. The partition's next batch is handed to the
// sender before the results, so it is on its way while the callers are told.
func (p *producer) acknowledged(s *sender, bt *batch, base int64) {
	part := bt.part
	part.mu.Lock()
	part.seq = nextSeq(bt.seq, len(bt.recs))
	if part.limit > 0 { // after MESSAGE_TOO_LARGE: grow back, rather than refill the batch at once
		if part.limit *= 2; part.limit > 1<<16 {
			part.limit = 0
		}
	}
	more := len(part.queue) > 0
	if !more {
		part.busy = false
	}
	part.mu.Unlock()
	if more {
		s.add(part, false)
	}
	for i, pd := range bt.recs {
		pd.acknowledged(journal.PartitionOffset{Partition: part.tp.id, Offset: base + int64(i)})
	}
	p.settle(bt)
}

// failed ends bt's records with err and lets the partition go on with its next batch. renew: bt's
// outcome is unknown, so the sequence the broker expects next is too.
func (p *producer) failed(s *sender, bt *batch, err error, renew bool) {
	part := bt.part
	part.mu.Lock()
	if renew {
		part.renew = true
	}
	more := len(part.queue) > 0
	if !more {
		part.busy = false
	}
	part.mu.Unlock()
	if more {
		s.add(part, false) // nextBatch renews the producer id first if it must
	}
	p.m.produceErrors.Add(float64(len(bt.recs)))
	for _, pd := range bt.recs {
		pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s/%d: %w", part.tp.topic, part.tp.id, err))
	}
	p.settle(bt)
}

// tooLarge: the broker refused bt as too large and wrote nothing. A batch of several records is
// split (its records go back to the front of the queue, half as many per batch); a single record is
// too large for the broker.
func (p *producer) tooLarge(s *sender, bt *batch, err error) {
	if len(bt.recs) == 1 {
		p.failed(s, bt, fmt.Errorf("%w: %w", journal.ErrRecordTooLarge, err), false)
		return
	}
	part := bt.part
	part.mu.Lock()
	part.queue = append(bt.recs, part.queue...)
	part.limit = max(1, len(bt.recs)/2)
	part.mu.Unlock()
	s.add(part, false)
}

// recover runs on a goroutine of its own after a failed attempt of bt (nil: the partition could not
// be scheduled, or must renew its producer id before its next batch): it waits the backoff, refreshes
// the topic's metadata, renews the producer id when needed, and schedules the partition again with
// bt first. A batch is given up once it was sent retries times and ProduceTimeout has passed since its
// first send: its records fail with err, and the partition takes a new producer id before the next.
func (p *producer) recover(part *partition, bt *batch, cause error, renew bool) {
	attempts := 1
	if bt != nil {
		attempts = bt.attempts
		if attempts >= p.retries && time.Since(bt.first) >= p.timeout {
			p.logger.Warn("produce: giving up a batch", "topic", part.tp.topic, "partition", part.tp.id, "records", len(bt.recs), "attempts", attempts, "error", cause)
			p.giveUp(bt, cause)
			return
		}
		p.logger.Debug("produce: retrying a batch", "topic", part.tp.topic, "partition", part.tp.id, "records", len(bt.recs), "attempt", attempts, "error", cause)
	}
	time.Sleep(p.backoffFor(attempts - 1))
	if err := p.client.RefreshMetadata(part.tp.topic); err != nil {
		p.logger.Debug("produce: metadata refresh failed", "topic", part.tp.topic, "error", err)
	}
	part.mu.Lock()
	renew = renew || part.renew
	old := part.pid
	part.mu.Unlock()
	if renew {
		pid, err := p.renewProducerID(old)
		if err != nil {
			p.logger.Debug("produce: new producer id failed", "error", err)
			if bt == nil {
				part.mu.Lock()
				bt = p.takeBatchLocked(part)
				part.mu.Unlock()
				if bt == nil {
					return
				}
			}
			bt.attempted() // count the attempt that could not be made, so a dead cluster ends it
			p.recover(part, bt, err, true)
			return
		}
		part.mu.Lock()
		part.pid, part.seq, part.renew = pid, 0, false
		if bt != nil {
			bt.pid, bt.seq = pid, 0
		}
		part.mu.Unlock()
	}
	if bt != nil {
		part.mu.Lock()
		part.retry = bt
		part.mu.Unlock()
	}
	p.schedule(part)
}

// giveUp fails bt after its last attempt: it may or may not be in the log.
func (p *producer) giveUp(bt *batch, cause error) {
	part := bt.part
	part.mu.Lock()
	part.renew = true
	more := len(part.queue) > 0
	if !more {
		part.busy = false
	}
	part.mu.Unlock()
	p.m.produceErrors.Add(float64(len(bt.recs)))
	for _, pd := range bt.recs {
		pd.failed(cause)
	}
	p.settle(bt)
	if more {
		p.schedule(part) // nextBatch renews the producer id first
	}
}

// attempted counts a send of bt (or one that could not be made); retries end ProduceTimeout after the
// first.
func (bt *batch) attempted() {
	bt.attempts++
	if bt.first.IsZero() {
		bt.first = time.Now()
	}
}

// settle ends bt's records, each told its result: they leave the buffer and the records close waits for.
func (p *producer) settle(bt *batch) {
	n := 0
	for _, pd := range bt.recs {
		n += pd.size
	}
	p.release(n)
	p.pending.Add(-len(bt.recs))
}

// reserve counts n bytes against the buffer, waiting while it is full (a record larger than the
// buffer waits only until the buffer is empty).
func (p *producer) reserve(ctx context.Context, n int) error {
	for {
		p.bufMu.Lock()
		if p.buffered+n <= p.bufferBytes || p.buffered == 0 {
			p.buffered += n
			p.bufMu.Unlock()
			p.m.bufferedBytes.Add(float64(n))
			return nil
		}
		if p.bufFree == nil {
			p.bufFree = make(chan struct{})
		}
		free := p.bufFree
		p.bufMu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			if context.Cause(ctx) == errProduceTimeout {
				p.m.produceErrors.Inc()
				return fmt.Errorf("%w: the producer's buffer (%d bytes) stayed full for %s", journal.ErrKafkaUnavailable, p.bufferBytes, p.timeout)
			}
			return ctx.Err()
		}
	}
}

// release gives n bytes back to the buffer and wakes the produces waiting for room.
func (p *producer) release(n int) {
	p.bufMu.Lock()
	p.buffered -= n
	if p.bufFree != nil {
		close(p.bufFree)
		p.bufFree = nil
	}
	p.bufMu.Unlock()
	p.m.bufferedBytes.Sub(float64(n))
}

// nextSeq is the sequence after n records from seq; sequences wrap from MaxInt32 to 0, as the
// broker's do.
func nextSeq(seq int32, n int) int32 {
	s := int64(seq) + int64(n)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

func (pd *pending) acknowledged(po journal.PartitionOffset) {
	if pd.finish(po, nil) {
		pd.p.m.produceLatency.Observe(time.Since(pd.start).Seconds())
	}
}

func (pd *pending) failed(err error) {
	pd.finish(journal.PartitionOffset{}, fmt.Errorf("produce %s: %w: %w", pd.key, journal.ErrKafkaUnavailable, err))
}

// expired runs when the context ends before the result: the record stays enqueued.
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

// close stops accepting records and waits until every enqueued one was acknowledged or given up
// (each pending Produce gets its result), then stops the senders.
func (p *producer) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.pending.Wait()
	p.sendersMu.Lock()
	defer p.sendersMu.Unlock()
	for id, s := range p.senders {
		close(s.stop)
		delete(p.senders, id)
	}
}
