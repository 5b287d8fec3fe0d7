package journal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is written into every action header this library produces (the original writes its own
// library version there; readers treat it as an opaque string).
const Version = "kjournal-0.1.0"

// Config configures Journals. Log and Eventual are required; every other field has a default.
type Config struct {
	// Log is the Kafka side (journal/kafka.New). Required.
	Log Log
	// Eventual is the Cassandra read side (journal/cassandra). Required.
	Eventual Eventual
	// Origin is written into every action header; default: the host name.
	Origin string
	// MarkerTimeout bounds how long a read, pointer or delete waits to reach its own marker in Kafka
	// (the original waits forever); default 10s. Exceeding it fails with ErrMarkerTimeout.
	MarkerTimeout time.Duration
	// HeadCache configures the shared per-topic index of unreplicated actions.
	HeadCache HeadCacheConfig
	// Pointer2TTL is how long a pointer2 offset read from Cassandra is reused by reads that scan Kafka
	// themselves; default 100ms. A stale pointer2 is never wrong, only slower: it is monotonic, and
	// an older value makes the scan start earlier.
	Pointer2TTL time.Duration
	// HeadLRUSize is how many journals' Cassandra pointers are cached; default 10000.
	HeadLRUSize int
	// Logger receives the library's logs; nil means none.
	Logger hclog.Logger
	// Registerer receives the library's metrics; nil means none are registered.
	Registerer prometheus.Registerer
	// Now is the clock for action timestamps; default time.Now.
	Now func() time.Time
	// Fence, when set, makes conditional appends (AppendIf) exact across processes that share it;
	// nil: exact within this Journals only.
	Fence Fence
	// FenceStale is how old a fence claim whose record has not reached the journal must be before
	// it is taken as failed; default 2 minutes (the producer gives up on a record after
	// journal/kafka's ProduceTimeout, 30s by default).
	FenceStale time.Duration
}

// AppendOptions are the optional parts of an Append.
type AppendOptions struct {
	// ExpireAfter asks the replicator to purge the journal this long after this append (0 = never).
	ExpireAfter time.Duration
	// Metadata is arbitrary JSON carried in the action header (RecordMetadata.Header.Data).
	Metadata json.RawMessage
	// PayloadMetadata is arbitrary JSON carried with the events (RecordMetadata.Payload.Data).
	PayloadMetadata json.RawMessage
	// Headers are user Kafka headers of the Append record.
	Headers Headers
}

// Journals gives access to journals; it is safe for concurrent use and shares one producer, one
// consumer pool and one head cache among all of them.
type Journals struct {
	cfg      Config
	log      Log
	eventual Eventual
	logger   hclog.Logger
	metrics  *metrics
	cache    *headCache // nil when disabled
	// offsets caches pointer2 per partition for Pointer2TTL. A plain LRU with the read time in the value:
	// expirable.LRU runs a ticker goroutine per cache that is never stopped.
	offsets *lru.Cache[topicPartition, cachedOffset]
	// heads caches each journal's metajournal row with the offset up to which it reflects every action
	// of the journal; see the package doc ("What is cached") for why that makes it exact.
	heads *lru.Cache[Key, cachedHead]
	// writers orders conditional appends against the other writes of their journal (AppendIf).
	writers *writeLocks
}

// cachedHead is a journal's metajournal row that reflects every action of the journal at or below
// upTo in its partition: upTo is the pointer2 sample taken before the row was read, or a later one
// the row was found still exact at.
type cachedHead struct {
	row  EventualHead
	upTo int64
}

type cachedOffset struct {
	offset int64
	at     time.Time
}

type topicPartition struct {
	topic     string
	partition int32
}

// New returns Journals over cfg's backends. Close releases what New started (the head cache); the
// backends themselves belong to the caller.
func New(cfg Config) (*Journals, error) {
	if cfg.Log == nil || cfg.Eventual == nil {
		return nil, errors.New("journal: Config.Log and Config.Eventual are required")
	}
	if cfg.Origin == "" {
		cfg.Origin, _ = os.Hostname()
	}
	if cfg.MarkerTimeout <= 0 {
		cfg.MarkerTimeout = 10 * time.Second
	}
	if cfg.Pointer2TTL <= 0 {
		cfg.Pointer2TTL = 100 * time.Millisecond
	}
	if cfg.HeadLRUSize <= 0 {
		cfg.HeadLRUSize = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FenceStale <= 0 {
		cfg.FenceStale = 2 * time.Minute
	}
	cfg.HeadCache.setDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	j := &Journals{
		cfg:      cfg,
		log:      cfg.Log,
		eventual: cfg.Eventual,
		logger:   cfg.Logger,
		metrics:  m,
		writers:  newWriteLocks(),
	}
	j.offsets, _ = lru.New[topicPartition, cachedOffset](4096) // errors only for a size <= 0
	j.heads, _ = lru.New[Key, cachedHead](cfg.HeadLRUSize)
	if !cfg.HeadCache.Disabled {
		j.cache = newHeadCache(cfg.HeadCache, cfg.Log, cfg.Eventual, cfg.Logger.Named("headcache"), m)
	}
	return j, nil
}

// Close stops the head cache. In-flight operations fail with ErrClosed or finish.
func (js *Journals) Close(ctx context.Context) error {
	if js.cache != nil {
		js.cache.close()
	}
	return nil
}

// Journal returns the journal with key. It is cheap: a value bound to js.
func (js *Journals) Journal(key Key) Journal { return Journal{js: js, key: key} }

// Journal is one journal. Its methods are safe for concurrent use; appends to one journal must still
// be sequenced by the caller (seqNrs are the caller's responsibility, as in the original).
type Journal struct {
	js  *Journals
	key Key
}

// Key returns the journal's key.
func (j Journal) Key() Key { return j.key }

// Append writes events atomically (one Kafka record) and returns where Kafka stored them, only after
// Kafka acknowledged them. events must be non-empty with strictly increasing valid seqNrs.
func (j Journal) Append(ctx context.Context, events []Event, opts AppendOptions) (PartitionOffset, error) {
	return awaitAppend(func(done func(PartitionOffset, error)) { j.AppendAsync(ctx, events, opts, done) })
}

// AppendAsync is Append without waiting for Kafka: it hands the record to the producer and returns,
// and calls done once with what Append would have returned. Records are handed to the producer in
// the order of the calls, so the appends one goroutine makes to a journal land in that order, and
// many appends in flight cost no goroutine each. It blocks while the producer's input buffer is full,
// and while a conditional append (AppendIf) of a journal sharing its write lock runs: the append
// holds that lock shared from here until done. done runs on the producer's result goroutine (or on
// the calling one, when the append fails before it reaches the producer) and must not block: it
// holds up every other append's result. The record is encoded before AppendAsync returns: it keeps
// nothing of events, so the caller may reuse their memory then (the sidecar decodes a connection's
// appends into one request whose payloads alias the frame read).
func (j Journal) AppendAsync(ctx context.Context, events []Event, opts AppendOptions, done func(PartitionOffset, error)) {
	if err := j.checkAppend(events); err != nil {
		j.js.metrics.appendLatency(err).Observe(0)
		done(PartitionOffset{}, err)
		return
	}
	l := j.js.writers.of(j.key)
	l.RLock()
	j.appendAsync(ctx, events, opts, l, done)
}

// append produces the Append action of checked events and waits for Kafka's acknowledgement; the
// caller holds the journal's write lock.
func (j Journal) append(ctx context.Context, events []Event, opts AppendOptions) (PartitionOffset, error) {
	return awaitAppend(func(done func(PartitionOffset, error)) { j.appendAsync(ctx, events, opts, nil, done) })
}

// awaitAppend runs an asynchronous append and waits for its result.
func awaitAppend(start func(done func(PartitionOffset, error))) (PartitionOffset, error) {
	type result struct {
		po  PartitionOffset
		err error
	}
	res := make(chan result, 1)
	start(func(po PartitionOffset, err error) { res <- result{po, err} })
	r := <-res
	return r.po, r.err
}

// appendCall is an append from its hand-off to the producer to its result: what the result needs,
// and the action's header, in one allocation (they were three closures and the header).
type appendCall struct {
	j      Journal
	lock   *sync.RWMutex // held shared until the result; nil when the caller holds it exclusively
	start  time.Time
	events int
	done   func(PartitionOffset, error)
	header AppendHeader
}

// appendAsync produces the Append action of checked events. lock, when not nil, is the journal's
// write lock held shared, released before done is called.
func (j Journal) appendAsync(ctx context.Context, events []Event, opts AppendOptions, lock *sync.RWMutex, done func(PartitionOffset, error)) {
	c := &appendCall{j: j, lock: lock, start: time.Now(), events: len(events), done: done}
	value, pt, err := EncodeEvents(events, PayloadMetadata{ExpireAfter: opts.ExpireAfter, Data: opts.PayloadMetadata})
	if err != nil {
		c.finish(PartitionOffset{}, err)
		return
	}
	c.header = AppendHeader{
		Range:       SeqRange{From: events[0].SeqNr, To: events[len(events)-1].SeqNr},
		Origin:      j.js.cfg.Origin,
		Version:     Version,
		PayloadType: pt,
		Metadata:    HeaderMetadata{Data: opts.Metadata},
	}
	j.js.log.ProduceAsync(ctx, Action{
		Key:       j.key,
		Timestamp: j.js.cfg.Now(),
		Header:    &c.header,
		Value:     value,
		Headers:   opts.Headers,
	}, c.result)
}

// result is the producer's callback.
func (c *appendCall) result(po PartitionOffset, err error) {
	js := c.j.js
	// The cached metajournal row is not exact past this append; most appended journals have none
	// (Contains takes the LRU's lock shared, Remove exclusively).
	if js.heads.Contains(c.j.key) {
		js.heads.Remove(c.j.key)
	}
	if err != nil {
		c.finish(PartitionOffset{}, fmt.Errorf("append %s: %w", c.j.key, err))
		return
	}
	js.metrics.events.Add(float64(c.events))
	c.finish(po, nil)
}

func (c *appendCall) finish(po PartitionOffset, err error) {
	c.j.js.metrics.appendLatency(err).Observe(time.Since(c.start).Seconds())
	if c.lock != nil {
		c.lock.RUnlock() // an RWMutex may be released by another goroutine
	}
	c.done(po, err)
}

// checkAppend validates the key and the events of an append.
func (j Journal) checkAppend(events []Event) error {
	if err := j.key.Validate(); err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrInvalidEvents)
	}
	for i, e := range events {
		if err := e.SeqNr.Validate(); err != nil {
			return err
		}
		if i > 0 && e.SeqNr <= events[i-1].SeqNr {
			return fmt.Errorf("%w: seqNr %d follows %d; seqNrs must increase", ErrInvalidEvents, e.SeqNr, events[i-1].SeqNr)
		}
	}
	return nil
}

// Mark produces a Mark with id and returns its position: everything the journal's partition held
// before it is at lower offsets.
func (j Journal) Mark(ctx context.Context, id string) (po PartitionOffset, err error) {
	defer j.js.metrics.observe("mark", time.Now(), &err)
	return j.mark(ctx, id)
}

func (j Journal) mark(ctx context.Context, id string) (PartitionOffset, error) {
	if err := j.key.Validate(); err != nil {
		return PartitionOffset{}, err
	}
	po, err := j.js.log.Produce(ctx, Action{
		Key:       j.key,
		Timestamp: j.js.cfg.Now(),
		Header:    &MarkHeader{ID: id, Origin: j.js.cfg.Origin, Version: Version},
	})
	if err != nil {
		return po, fmt.Errorf("mark %s: %w", j.key, err)
	}
	return po, nil
}

// Pointer returns the journal's last seqNr; ok is false when the journal has none (never written,
// or purged). Deleting events does not lower it.
func (j Journal) Pointer(ctx context.Context) (seqNr SeqNr, ok bool, err error) {
	defer j.js.metrics.observe("pointer", time.Now(), &err)
	h, err := j.head(ctx)
	if err != nil {
		return 0, false, err
	}
	return h.highest, h.highest > 0, nil
}

// Delete deletes the events up to to, clamped to the journal's pointer, so deleting "everything"
// (to = MaxSeqNr) keeps the journal usable and its pointer unchanged. It returns the Delete's position,
// or ok false when the journal has no events to delete.
func (j Journal) Delete(ctx context.Context, to SeqNr) (po PartitionOffset, ok bool, err error) {
	defer j.js.metrics.observe("delete", time.Now(), &err)
	if err := to.Validate(); err != nil {
		return po, false, err
	}
	seqNr, ok, err := j.Pointer(ctx)
	if err != nil || !ok {
		return po, false, err
	}
	po, err = j.js.log.Produce(ctx, Action{
		Key:       j.key,
		Timestamp: j.js.cfg.Now(),
		Header:    &DeleteHeader{To: min(to, seqNr), Origin: j.js.cfg.Origin, Version: Version},
	})
	j.js.heads.Remove(j.key)
	if err != nil {
		return po, false, fmt.Errorf("delete %s: %w", j.key, err)
	}
	return po, true, nil
}

// Purge removes the journal: reads return nothing and the pointer is gone; the next Append starts a
// new journal.
func (j Journal) Purge(ctx context.Context) (po PartitionOffset, err error) {
	defer j.js.metrics.observe("purge", time.Now(), &err)
	if err := j.key.Validate(); err != nil {
		return po, err
	}
	l := j.js.writers.of(j.key)
	l.RLock()
	defer l.RUnlock()
	po, err = j.js.log.Produce(ctx, Action{
		Key:       j.key,
		Timestamp: j.js.cfg.Now(),
		Header:    &PurgeHeader{Origin: j.js.cfg.Origin, Version: Version},
	})
	j.js.heads.Remove(j.key)
	if err != nil {
		return po, fmt.Errorf("purge %s: %w", j.key, err)
	}
	if f := j.js.cfg.Fence; f != nil {
		// The journal starts anew: so does its fence (else its claim would wait out FenceStale).
		if err := f.Reset(ctx, j.key); err != nil {
			return po, fmt.Errorf("purge %s: fence: %w", j.key, err)
		}
	}
	return po, nil
}

// head is what a read knows before it streams: the folded unreplicated actions up to its marker, and
// where to find the unreplicated events.
type head struct {
	marker  PartitionOffset
	info    HeadInfo
	highest SeqNr
	// tail holds the unreplicated Appends of the journal when the head cache had them; nil means the
	// tail is read from Kafka (a scan from info.Offset to the marker).
	tail       []*ActionRecord
	tailSet    bool
	replicated int64 // pointer2 the fold started after; -1 none
	// row is the journal's metajournal row once known (rowSet): from the LRU when still exact, else
	// read from Cassandra when first needed.
	row    EventualHead
	rowSet bool
}

// head produces a Mark and folds everything unreplicated before it: the common prologue of read,
// pointer and delete (research §3.2). No event may be streamed before this returns.
func (j Journal) head(ctx context.Context) (*head, error) {
	marker, err := j.mark(ctx, newMarkerID())
	if err != nil {
		return nil, err
	}
	h := &head{marker: marker, replicated: -1}
	cached, hasCached := j.js.heads.Get(j.key)
	untouched := true // no action of the journal in (cached.upTo, h.replicated]
	if marker.Offset > 0 {
		since := int64(-1)
		if hasCached {
			since = cached.upTo
		}
		if untouched, err = j.foldHead(ctx, h, marker.Offset-1, since); err != nil {
			return nil, err
		}
	}
	if hasCached && (cached.upTo >= h.replicated || untouched) {
		h.row, h.rowSet = cached.row, true
		if h.replicated > cached.upTo {
			j.js.heads.Add(j.key, cachedHead{row: cached.row, upTo: h.replicated})
		}
	}
	eventual := SeqNr(0)
	if h.info.NeedsEventual() && h.info.Kind != HeadAppend {
		if err := j.eventualHead(ctx, h); err != nil {
			return nil, err
		}
		eventual = h.row.SeqNr
	}
	h.highest = h.info.HighestSeqNr(eventual)
	return h, nil
}

// eventualHead sets h.row, from the LRU when head found the cached row still exact, else from
// Cassandra. The row is cached with upTo = h.replicated, the pointer2 sample the fold started after,
// taken before this lookup: the replicator writes metajournal before pointer2, so the row reflects
// every action of the journal at or below it.
func (j Journal) eventualHead(ctx context.Context, h *head) error {
	if h.rowSet {
		j.js.metrics.heads.WithLabelValues("hit").Inc()
		return nil
	}
	j.js.metrics.heads.WithLabelValues("miss").Inc()
	row, err := j.js.eventual.JournalHead(ctx, j.key)
	if err != nil {
		return fmt.Errorf("pointer %s: %w", j.key, err)
	}
	h.row, h.rowSet = row, true
	j.js.heads.Add(j.key, cachedHead{row: row, upTo: h.replicated})
	return nil
}

// foldHead fills h.info for the actions of the journal in (pointer2, limit]: from the head cache when
// it can answer, else by scanning Kafka. untouched reports that the journal has no action in
// (since, pointer2]: a row cached as exact up to since is exact up to pointer2 too.
func (j Journal) foldHead(ctx context.Context, h *head, limit, since int64) (untouched bool, err error) {
	if c := j.js.cache; c != nil {
		if r, ok := c.get(ctx, j.key, h.marker.Partition, limit, since); ok {
			h.info, h.tail, h.tailSet, h.replicated = r.info, r.appends, true, r.replicated
			return r.untouched, nil
		}
		j.js.metrics.fallbacks.Inc()
	}
	replicated, err := j.replicatedOffset(ctx, h.marker.Partition)
	if err != nil {
		return false, err
	}
	h.replicated = replicated
	if replicated >= limit {
		return false, nil // everything up to the marker is in Cassandra
	}
	sctx, cancel := context.WithTimeout(ctx, j.js.cfg.MarkerTimeout)
	defer cancel()
	err = j.js.log.Scan(sctx, j.key.Topic, h.marker.Partition, replicated+1, limit, j.key.ID, func(r ActionRecord) error {
		h.info = h.info.Fold(r.Header, r.Offset)
		return nil
	})
	return false, j.scanError(ctx, sctx, err)
}

// scanError turns the scan's own deadline into ErrMarkerTimeout; the caller's deadline stays ctx.Err.
func (j Journal) scanError(ctx, sctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("read %s: %w (after %s)", j.key, ErrMarkerTimeout, j.js.cfg.MarkerTimeout)
	}
	return fmt.Errorf("read %s: %w", j.key, err)
}

// replicatedOffset is pointer2 for the journal's partition, -1 when none; reused for Pointer2TTL.
func (j Journal) replicatedOffset(ctx context.Context, partition int32) (int64, error) {
	tp := topicPartition{j.key.Topic, partition}
	if c, ok := j.js.offsets.Get(tp); ok && time.Since(c.at) < j.js.cfg.Pointer2TTL {
		return c.offset, nil
	}
	at := time.Now()
	o, ok, err := j.js.eventual.Offset(ctx, j.key.Topic, partition)
	if err != nil {
		return 0, fmt.Errorf("pointer2 %s/%d: %w", j.key.Topic, partition, err)
	}
	if !ok {
		o = -1
	}
	j.js.offsets.Add(tp, cachedOffset{offset: o, at: at})
	return o, nil
}

func newMarkerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
