package journal

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// HeadCacheConfig configures the head cache: per topic, ONE Kafka consumer shared by every read in the
// process keeps an index of the unreplicated actions (with the values of unreplicated Appends), trimmed
// as pointer2 advances. A read whose marker the index has reached is answered without opening a
// consumer of its own.
type HeadCacheConfig struct {
	// Disabled turns the cache off: every read scans Kafka from pointer2 to its marker itself.
	Disabled bool
	// Timeout is how long a read waits for the index to reach its marker before it scans Kafka
	// itself; default 1s.
	Timeout time.Duration
	// PollInterval is how often pointer2 is read to trim replicated actions; default 100ms.
	PollInterval time.Duration
	// MaxActions bounds the actions indexed per partition; default 10000. The oldest are evicted
	// first; reads needing an evicted range scan Kafka themselves.
	MaxActions int
	// MaxBytes bounds the Append values held per partition; default 16 MiB.
	MaxBytes int64
}

func (c *HeadCacheConfig) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.MaxActions <= 0 {
		c.MaxActions = 10000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
}

type headCache struct {
	cfg      HeadCacheConfig
	log      Log
	eventual Eventual
	logger   hclog.Logger
	m        *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	topics map[string]*topicCache
}

type topicCache struct {
	topic string
	ready chan struct{} // closed once parts (or err) is set
	err   error
	parts map[int32]*partitionCache

	// changedMu guards changed, closed and replaced whenever the follower delivered a batch of any
	// partition: it wakes the topic's subscribe_all streams.
	changedMu sync.Mutex
	changed   chan struct{}
}

// partitionCache indexes the actions of one partition in (replicated, consumed]. Invariants: every
// action with an offset in [minOffset, consumed] and above replicated is in queue and byID; every
// action in [removedFrom, consumed] that is not (trimmed as replicated, evicted by the size bounds, or
// delivered when already replicated) is in removed and removedLog. So the index answers exactly for a
// query of id whose range starts at or above minOffset, or at or above removedFrom when removed has
// nothing of id there: an eviction of other journals' actions does not send the reads of id to a
// scan. And it knows whether id had an action in (since, replicated] when consumed >= replicated.
type partitionCache struct {
	mu         sync.Mutex
	replicated int64 // pointer2 as last polled; -1 none
	consumed   int64 // highest offset the follower delivered; -1 none
	minOffset  int64 // lowest offset from which the index is complete
	queue      []*cacheEntry
	byID       map[string][]*cacheEntry
	bytes      int64
	changed    chan struct{} // closed and replaced on every change: wakes waiting reads

	removed     map[string]int64 // id → offset of its newest action that left the index
	removedLog  []removedAction  // the actions in removed, oldest first, at most removedPerAction × MaxActions
	removedFrom int64            // lowest offset from which removed is complete
}

// removedPerAction × MaxActions bounds the record of actions that left a partition's index: an
// offset and an id each (no value), so it may reach further back than the index itself.
const removedPerAction = 4

type removedAction struct {
	offset int64
	id     string
}

type cacheEntry struct {
	offset int64
	id     string
	rec    *ActionRecord
	err    error
	size   int64
}

type cacheResult struct {
	info       HeadInfo
	appends    []*ActionRecord
	replicated int64
	// untouched: the journal has no action in (since, replicated], the range a read's cached
	// metajournal row may have missed.
	untouched bool
}

func newHeadCache(cfg HeadCacheConfig, log Log, eventual Eventual, logger hclog.Logger, m *metrics) *headCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &headCache{cfg: cfg, log: log, eventual: eventual, logger: logger, m: m, ctx: ctx, cancel: cancel,
		topics: map[string]*topicCache{}}
}

func (c *headCache) close() {
	c.cancel()
	c.wg.Wait()
}

// get answers the HeadInfo of key for the actions up to limit (its marker's offset − 1), with the
// journal's unreplicated Appends, and whether the journal has no action in (since, replicated]. ok is
// false when the cache cannot answer within the timeout; the read then scans Kafka itself.
func (c *headCache) get(ctx context.Context, key Key, partition int32, limit, since int64) (cacheResult, bool) {
	timer := time.NewTimer(c.cfg.Timeout)
	defer timer.Stop()
	tc := c.topic(key.Topic)
	select {
	case <-tc.ready:
	case <-timer.C:
		c.m.cache.WithLabelValues("timeout").Inc()
		return cacheResult{}, false
	case <-ctx.Done():
		return cacheResult{}, false
	}
	pc := tc.parts[partition]
	if tc.err != nil || pc == nil {
		c.m.cache.WithLabelValues("miss").Inc()
		return cacheResult{}, false
	}
	for {
		pc.mu.Lock()
		if pc.replicated >= limit {
			// (since, replicated] is known only as far as the follower got.
			res := cacheResult{replicated: pc.replicated, untouched: pc.consumed >= pc.replicated && pc.untouched(key.ID, since+1)}
			pc.mu.Unlock()
			c.m.cache.WithLabelValues("ahead").Inc()
			return res, true
		}
		if pc.consumed >= limit {
			res, ok := pc.fold(key.ID, limit)
			res.untouched = pc.untouched(key.ID, since+1)
			pc.mu.Unlock()
			if !ok {
				c.m.cache.WithLabelValues("limited").Inc()
				return cacheResult{}, false
			}
			c.m.cache.WithLabelValues("hit").Inc()
			return res, true
		}
		changed := pc.changed
		pc.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			c.m.cache.WithLabelValues("timeout").Inc()
			return cacheResult{}, false
		case <-ctx.Done():
			return cacheResult{}, false
		}
	}
}

// fold folds the actions of id in (replicated, limit]. Called with pc.mu held.
func (pc *partitionCache) fold(id string, limit int64) (cacheResult, bool) {
	start := pc.replicated + 1
	if start < pc.minOffset && !pc.untouched(id, start) {
		return cacheResult{}, false // an action of id in the range was evicted
	}
	res := cacheResult{replicated: pc.replicated}
	for _, e := range pc.byID[id] {
		if e.offset < start {
			continue
		}
		if e.offset > limit {
			break
		}
		if e.err != nil {
			return cacheResult{}, false // let the read's own scan report the bad record
		}
		res.info = res.info.Fold(e.rec.Header, e.offset)
		if _, ok := e.rec.Header.(*AppendHeader); ok {
			res.appends = append(res.appends, e.rec)
		}
	}
	return res, true
}

// topic returns the topic's cache, creating it (and its follower and poller) on first use. A topic
// whose setup failed is dropped so that a later read tries again.
func (c *headCache) topic(topic string) *topicCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, ok := c.topics[topic]; ok {
		return tc
	}
	tc := &topicCache{topic: topic, ready: make(chan struct{}), changed: make(chan struct{})}
	c.topics[topic] = tc
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(tc)
	}()
	return tc
}

func (c *headCache) run(tc *topicCache) {
	logger := c.logger.With("topic", tc.topic)
	parts, from, err := c.setup(tc.topic)
	if err != nil {
		logger.Warn("head cache setup failed; reads scan Kafka themselves", "error", err)
		tc.err = err
		close(tc.ready)
		// Keep the failed entry briefly, so a burst of reads does not retry setup for each.
		select {
		case <-time.After(time.Second):
		case <-c.ctx.Done():
		}
		c.mu.Lock()
		delete(c.topics, tc.topic)
		c.mu.Unlock()
		return
	}
	tc.parts = parts
	close(tc.ready)
	logger.Debug("head cache started", "partitions", len(parts))

	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.poll(tc)
	}()
	backoff := 10 * time.Millisecond
	for {
		err := c.log.Follow(c.ctx, tc.topic, from, func(partition int32, batch []LogRecord) {
			if pc := tc.parts[partition]; pc != nil {
				c.m.entries.WithLabelValues(tc.topic).Add(float64(pc.add(batch, c.cfg)))
				tc.broadcast()
			}
		})
		if c.ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		logger.Warn("head cache consumer failed; restarting", "error", err, "backoff", backoff)
		select {
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		case <-c.ctx.Done():
			return
		}
		backoff = min(backoff*2, time.Second)
		for p, pc := range tc.parts {
			pc.mu.Lock()
			from[p] = pc.consumed + 1
			pc.mu.Unlock()
		}
	}
}

// setup lists the partitions and starts each one's index right after pointer2.
func (c *headCache) setup(topic string) (map[int32]*partitionCache, map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	ps, err := c.log.Partitions(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	parts := make(map[int32]*partitionCache, len(ps))
	from := make(map[int32]int64, len(ps))
	for _, p := range ps {
		o, ok, err := c.eventual.Offset(ctx, topic, p)
		if err != nil {
			return nil, nil, err
		}
		pc := &partitionCache{replicated: -1, consumed: -1, byID: map[string][]*cacheEntry{}, changed: make(chan struct{}),
			removed: map[string]int64{}}
		if ok {
			pc.replicated, pc.consumed, pc.minOffset, pc.removedFrom = o, o, o+1, o+1
			from[p] = o + 1
		}
		parts[p] = pc
	}
	return parts, from, nil
}

// poll trims replicated actions as pointer2 advances.
func (c *headCache) poll(tc *topicCache) {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	var lastErr time.Time
	for {
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
		for p, pc := range tc.parts {
			o, ok, err := c.eventual.Offset(c.ctx, tc.topic, p)
			if err != nil {
				if c.ctx.Err() == nil && time.Since(lastErr) > 10*time.Second {
					c.logger.Warn("head cache cannot read pointer2", "topic", tc.topic, "error", err)
					lastErr = time.Now()
				}
				break
			}
			if ok {
				c.m.entries.WithLabelValues(tc.topic).Add(float64(pc.trim(o, c.cfg)))
			}
		}
	}
}

// add indexes a fetched batch and returns the change in indexed actions.
func (pc *partitionCache) add(batch []LogRecord, cfg HeadCacheConfig) int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delta := 0
	for _, r := range batch {
		if r.Offset <= pc.consumed {
			continue // redelivered after a consumer restart
		}
		pc.consumed = r.Offset
		if r.ID == "" || (r.Action == nil && r.Err == nil) {
			continue
		}
		if r.Action != nil {
			if _, mark := r.Action.Header.(*MarkHeader); mark {
				continue // marks change no HeadInfo
			}
		}
		if r.Offset <= pc.replicated {
			pc.forget(r.ID, r.Offset, removedPerAction*cfg.MaxActions) // replicated before the follower got here
			continue
		}
		e := &cacheEntry{offset: r.Offset, id: r.ID, rec: r.Action, err: r.Err, size: 64 + int64(len(r.ID))}
		if r.Action != nil && r.Action.Value != nil {
			// A copy: the fetched value may alias its whole decompressed batch, which the index (and a
			// stalled read holding the tail) would otherwise keep alive, uncounted by MaxBytes.
			r.Action.Value = bytes.Clone(r.Action.Value)
			e.size += int64(len(r.Action.Value))
		}
		pc.queue = append(pc.queue, e)
		pc.byID[r.ID] = append(pc.byID[r.ID], e)
		pc.bytes += e.size
		delta++
	}
	for len(pc.queue) > cfg.MaxActions || pc.bytes > cfg.MaxBytes {
		e := pc.pop(cfg)
		pc.minOffset = e.offset + 1
		delta--
	}
	pc.broadcast()
	return delta
}

// trim drops the actions at or below the replicated offset and returns the change in indexed actions.
func (pc *partitionCache) trim(replicated int64, cfg HeadCacheConfig) int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if replicated <= pc.replicated {
		return 0
	}
	pc.replicated = replicated
	delta := 0
	for len(pc.queue) > 0 && pc.queue[0].offset <= replicated {
		pc.pop(cfg)
		delta--
	}
	pc.broadcast()
	return delta
}

// pop removes the oldest entry, recording it in removed; it is also the oldest of its id, as both
// lists are in offset order.
func (pc *partitionCache) pop(cfg HeadCacheConfig) *cacheEntry {
	e := pc.queue[0]
	pc.queue[0] = nil
	pc.queue = pc.queue[1:]
	ids := pc.byID[e.id]
	ids[0] = nil
	if len(ids) == 1 {
		delete(pc.byID, e.id)
	} else {
		pc.byID[e.id] = ids[1:]
	}
	pc.bytes -= e.size
	pc.forget(e.id, e.offset, removedPerAction*cfg.MaxActions)
	return e
}

// untouched reports that no action of id at or above from left the index, nor was replicated before
// the follower delivered it: every action of id in [from, consumed] is still in byID. Called with pc.mu
// held.
func (pc *partitionCache) untouched(id string, from int64) bool {
	if from < pc.removedFrom {
		return false
	}
	o, ok := pc.removed[id]
	return !ok || o < from
}

// forget records that the action of id at offset left the index (or never entered it, being
// replicated already), keeping the record to max entries.
func (pc *partitionCache) forget(id string, offset int64, max int) {
	pc.removed[id] = offset
	pc.removedLog = append(pc.removedLog, removedAction{offset: offset, id: id})
	for len(pc.removedLog) > max {
		r := pc.removedLog[0]
		pc.removedLog = pc.removedLog[1:]
		pc.removedFrom = r.offset + 1
		if pc.removed[r.id] == r.offset {
			delete(pc.removed, r.id)
		}
	}
}

func (pc *partitionCache) broadcast() {
	close(pc.changed)
	pc.changed = make(chan struct{})
}
