package journal

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"
)

// Errors of subscriptions.
var (
	// ErrJournalPurged: a subscription following a journal saw it purged. The events delivered belong to a
	// journal that no longer exists; a new one with the same key may start from any seqNr.
	ErrJournalPurged = errors.New("journal: purged while subscribed")
	// ErrFollowerUnavailable: the head cache (the shared follower that subscriptions ride) is disabled or
	// could not start for the topic.
	ErrFollowerUnavailable = errors.New("journal: follower unavailable")
)

// Subscription follows one journal: first the events already written from a seqNr on (a Read), then
// every event appended later, as the shared head-cache consumer of the topic sees it. It holds no
// consumer and buffers nothing of its own: each Next takes what it needs from the head cache's index,
// and when the index no longer holds what the subscription has not delivered yet (trimmed once
// replicated, or evicted by the size bounds — a subscriber that fell far behind), it catches up with a
// new Read from its next seqNr. So a slow subscriber costs a read, never memory, and never holds up the
// follower or other subscribers.
//
// Exactly once, in order: the catch-up Read serves every action of the journal before its Mark, and
// following starts after the Mark's offset; every event is delivered once with seqNrs increasing (an
// event whose seqNr is not above the previous one is dropped, as reads do). A Delete seen while
// following changes nothing (what it deletes was delivered already, in log order); a Purge ends the
// subscription with ErrJournalPurged.
//
// A Subscription is not safe for concurrent use.
type Subscription struct {
	j    Journal
	next SeqNr // the next seqNr to deliver

	// catching up: the current Read's events, and the offset of its Mark
	pull  func() (EventRecord, error, bool)
	stop  func()
	after int64 // following: every action of the journal at or below this offset is delivered
	pc    *partitionCache

	// Waiting, when set, is called with true before Next waits for new events and with false after:
	// the sidecar pauses the request's deadline meanwhile (waiting is the writers' time, not its own).
	Waiting func(bool)
}

// Subscribe returns a subscription to the events with seqNr >= from. Nothing happens before the first
// Next. Close releases it.
func (j Journal) Subscribe(from SeqNr) (*Subscription, error) {
	if err := from.Validate(); err != nil {
		return nil, err
	}
	if err := j.key.Validate(); err != nil {
		return nil, err
	}
	if j.js.cache == nil {
		return nil, fmt.Errorf("%w: the head cache is disabled by configuration", ErrFollowerUnavailable)
	}
	return &Subscription{j: j, next: from}, nil
}

// Close releases the subscription's current read, if any.
func (s *Subscription) Close() {
	if s.stop != nil {
		s.stop()
		s.pull, s.stop = nil, nil
	}
}

// Next returns the next events, at most maxEvents of them and about maxBytes (at least one event),
// waiting until there is at least one. It fails with ctx's error when ctx ends first, with
// ErrJournalPurged after a Purge, and with the read's errors while catching up.
func (s *Subscription) Next(ctx context.Context, maxEvents, maxBytes int) ([]EventRecord, error) {
	var out []EventRecord
	size := 0
	for {
		if s.pull == nil && s.pc == nil {
			if err := s.catchUp(ctx); err != nil {
				return nil, err
			}
		}
		if s.pull != nil {
			for len(out) < maxEvents && size < maxBytes {
				e, err, ok := s.pull()
				if err != nil {
					s.Close()
					return nil, err
				}
				if !ok {
					s.Close() // caught up: follow from the Mark on
					s.j.js.metrics.subscriptions.WithLabelValues("caught_up").Inc()
					break
				}
				if e.SeqNr < s.next {
					continue
				}
				out = append(out, e)
				size += eventSize(e)
				s.next = e.SeqNr + 1
			}
			if len(out) > 0 {
				return out, nil
			}
			if s.pull != nil {
				continue
			}
		}
		out, changed, err := s.follow(maxEvents, maxBytes)
		if err != nil || len(out) > 0 {
			return out, err
		}
		if s.pc == nil {
			continue // fell behind what the index holds: catch up again
		}
		if err := wait(ctx, changed, s.Waiting); err != nil {
			return nil, err
		}
	}
}

// wait waits for changed or the end of ctx, telling waiting (when set) before and after.
func wait(ctx context.Context, changed <-chan struct{}, waiting func(bool)) error {
	if waiting != nil {
		waiting(true)
		defer waiting(false)
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// catchUp starts a Read from the next seqNr; following resumes after its Mark.
func (s *Subscription) catchUp(ctx context.Context) error {
	tc, err := s.j.js.cache.ready(ctx, s.j.key.Topic)
	if err != nil {
		return err
	}
	r, err := s.j.Read(ctx, s.next)
	if err != nil {
		return err
	}
	pc := tc.parts[r.Marker().Partition]
	if pc == nil {
		return fmt.Errorf("%w: partition %d of %s is not followed (added after the sidecar started)", ErrFollowerUnavailable, r.Marker().Partition, s.j.key.Topic)
	}
	s.pull, s.stop = iter.Pull2(r.Events(ctx))
	s.after, s.pc = r.Marker().Offset, pc
	s.j.js.metrics.subscriptions.WithLabelValues("catch_up").Inc()
	return nil
}

// follow takes the journal's actions after s.after from the head cache's index. It returns the events
// found, or none and the channel that signals the next change of the index; it sets s.pc to nil when
// the index cannot answer (the subscription must catch up again).
func (s *Subscription) follow(maxEvents, maxBytes int) ([]EventRecord, <-chan struct{}, error) {
	pc, id := s.pc, s.j.key.ID
	pc.mu.Lock()
	start := s.after + 1
	if !(start >= pc.minOffset && start > pc.replicated) && !pc.untouched(id, start) {
		pc.mu.Unlock()
		s.pc = nil // an action of the journal after s.after left the index
		return nil, nil, nil
	}
	var pending []*cacheEntry
	for _, e := range pc.byID[id] {
		if e.offset >= start {
			pending = append(pending, e)
		}
	}
	if len(pending) == 0 {
		// Every action of the journal up to consumed is in the index, and none is pending.
		s.after = max(s.after, pc.consumed)
	}
	changed := pc.changed
	pc.mu.Unlock()

	var out []EventRecord
	size := 0
	for _, e := range pending {
		if e.err != nil {
			return out, nil, e.err
		}
		switch h := e.rec.Header.(type) {
		case *PurgeHeader:
			if len(out) > 0 {
				return out, nil, nil // deliver what came before; the purge ends the next call
			}
			return nil, nil, fmt.Errorf("%w: %s at %d:%d", ErrJournalPurged, s.j.key, e.rec.Partition, e.offset)
		case *AppendHeader:
			if h.Range.To >= s.next {
				events, md, err := DecodeEvents(e.rec.Value, h.PayloadType)
				if err != nil {
					return out, nil, fmt.Errorf("%w: %s at %d:%d: %v", ErrDataIntegrity, s.j.key, e.rec.Partition, e.offset, err)
				}
				for _, ev := range events {
					if ev.SeqNr < s.next {
						continue
					}
					if len(out) >= maxEvents || size >= maxBytes {
						return out, nil, nil // s.after stays below e: the rest of it comes next time
					}
					rec := eventRecord(e.rec, h, ev, md)
					out = append(out, rec)
					size += eventSize(rec)
					s.next = ev.SeqNr + 1
				}
			}
		}
		s.after = e.offset
	}
	return out, changed, nil
}

// eventSize estimates an event's share of a frame.
func eventSize(e EventRecord) int { return 128 + len(e.Payload.Data) + len(e.Headers)*32 }

// ready returns the topic's cache once its setup is done.
func (c *headCache) ready(ctx context.Context, topic string) (*topicCache, error) {
	tc := c.topic(topic)
	select {
	case <-tc.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if tc.err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFollowerUnavailable, topic, tc.err)
	}
	return tc, nil
}

func (tc *topicCache) broadcast() {
	tc.changedMu.Lock()
	close(tc.changed)
	tc.changed = make(chan struct{})
	tc.changedMu.Unlock()
}

func (tc *topicCache) changes() <-chan struct{} {
	tc.changedMu.Lock()
	defer tc.changedMu.Unlock()
	return tc.changed
}

// TopicEvent is an event of a topic subscription: its journal and the event with its position.
type TopicEvent struct {
	Key Key
	EventRecord
}

// TopicStart says where a topic subscription starts: Offsets gives the first offset of the partitions
// it lists, and the others start at their oldest record (Latest false) or at their end (Latest true:
// only records written from now on).
type TopicStart struct {
	Offsets map[int32]int64
	Latest  bool
}

// TopicSubscription follows every Append of a topic, partition by partition in offset order, riding
// the head cache's consumer like Subscription: what the index holds is taken from it, and older
// records (a start in the past, or a subscriber that fell behind the index) are read with pooled scan
// consumers, a chunk at a time. It delivers the raw log: every event of every Append (a retried append
// twice), in offset order within each partition; Deletes, Purges and Marks are not delivered.
//
// A TopicSubscription is not safe for concurrent use.
type TopicSubscription struct {
	js    *Journals
	topic string
	tc    *topicCache
	parts []int32
	// next[p] is the offset of the next record to look at; skip[p] the events of that record already
	// delivered (a frame can end inside a record).
	next map[int32]int64
	skip map[int32]int
	rr   int // the partition to look at first, so that one busy partition does not starve the others

	// Waiting is as Subscription.Waiting.
	Waiting func(bool)
}

// logEnds is implemented by Logs that know each partition's end offset (journal/kafka does): a
// subscription from latest starts there rather than where the head cache's follower got.
type logEnds interface {
	EndOffsets(ctx context.Context, topic string) (map[int32]int64, error)
}

// topicChunk is how many Append records a scan of a topic subscription copies before it gives its
// consumer back.
const topicChunk = 64

// SubscribeAll returns a subscription to every Append of topic from start on.
func (js *Journals) SubscribeAll(ctx context.Context, topic string, start TopicStart) (*TopicSubscription, error) {
	if js.cache == nil {
		return nil, fmt.Errorf("%w: the head cache is disabled by configuration", ErrFollowerUnavailable)
	}
	tc, err := js.cache.ready(ctx, topic)
	if err != nil {
		return nil, err
	}
	var ends map[int32]int64
	if le, ok := js.log.(logEnds); ok && start.Latest {
		if ends, err = le.EndOffsets(ctx, topic); err != nil {
			return nil, err
		}
	}
	s := &TopicSubscription{js: js, topic: topic, tc: tc, next: map[int32]int64{}, skip: map[int32]int{}}
	for p, pc := range tc.parts {
		s.parts = append(s.parts, p)
		switch o, ok := start.Offsets[p]; {
		case ok:
			s.next[p] = o
		case start.Latest:
			if end, ok := ends[p]; ok {
				s.next[p] = end
				break
			}
			pc.mu.Lock()
			s.next[p] = pc.consumed + 1 // a Log without EndOffsets: as far as the follower got
			pc.mu.Unlock()
		}
	}
	slices.Sort(s.parts)
	for p := range start.Offsets {
		if tc.parts[p] == nil {
			return nil, fmt.Errorf("%w: topic %s has no partition %d", ErrInvalidKey, topic, p)
		}
	}
	js.metrics.subscriptions.WithLabelValues("topic").Inc()
	return s, nil
}

// Next returns the next events, at most maxEvents of them and about maxBytes (at least one), waiting
// until there is at least one or ctx ends.
func (s *TopicSubscription) Next(ctx context.Context, maxEvents, maxBytes int) ([]TopicEvent, error) {
	for {
		changed := s.tc.changes() // before looking: a batch delivered meanwhile wakes the wait
		for i := range s.parts {
			p := s.parts[(s.rr+i)%len(s.parts)]
			out, err := s.partition(ctx, p, maxEvents, maxBytes)
			if err != nil || len(out) > 0 {
				s.rr = (s.rr + i + 1) % len(s.parts)
				return out, err
			}
		}
		if err := wait(ctx, changed, s.Waiting); err != nil {
			return nil, err
		}
	}
}

// partition returns the next events of partition p: from the index when it holds every record from
// next[p] on, else from a scan of up to topicChunk Appends.
func (s *TopicSubscription) partition(ctx context.Context, p int32, maxEvents, maxBytes int) ([]TopicEvent, error) {
	pc := s.tc.parts[p]
	from := s.next[p]
	pc.mu.Lock()
	consumed := pc.consumed
	if from > consumed {
		pc.mu.Unlock()
		return nil, nil
	}
	var recs []*ActionRecord
	var failed error
	if from >= pc.minOffset && from > pc.replicated {
		i := sort.Search(len(pc.queue), func(i int) bool { return pc.queue[i].offset >= from })
		for _, e := range pc.queue[i:] {
			if e.err != nil {
				failed = e.err
				break
			}
			if _, ok := e.rec.Header.(*AppendHeader); ok {
				recs = append(recs, e.rec)
				if len(recs) == topicChunk {
					break
				}
			}
		}
		pc.mu.Unlock()
	} else {
		pc.mu.Unlock()
		err := s.js.log.Scan(ctx, s.topic, p, from, consumed, "", func(r ActionRecord) error {
			if _, ok := r.Header.(*AppendHeader); !ok {
				return nil
			}
			r.Value = slices.Clone(r.Value) // the value may alias the whole fetched batch
			recs = append(recs, &r)
			if len(recs) == topicChunk {
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			return nil, fmt.Errorf("subscribe %s/%d at %d: %w", s.topic, p, from, err)
		}
		s.js.metrics.subscriptions.WithLabelValues("topic_scan").Inc()
	}
	var out []TopicEvent
	size := 0
	for _, r := range recs {
		h := r.Header.(*AppendHeader)
		events, md, err := DecodeEvents(r.Value, h.PayloadType)
		if err != nil {
			return out, fmt.Errorf("%w: %s at %d:%d: %v", ErrDataIntegrity, r.Key, r.Partition, r.Offset, err)
		}
		skip := 0
		if r.Offset == s.next[p] {
			skip = s.skip[p]
		}
		for i := skip; i < len(events); i++ {
			if len(out) >= maxEvents || size >= maxBytes {
				s.next[p], s.skip[p] = r.Offset, i
				return out, nil
			}
			rec := eventRecord(r, h, events[i], md)
			out = append(out, TopicEvent{Key: r.Key, EventRecord: rec})
			size += eventSize(rec)
		}
		s.next[p], s.skip[p] = r.Offset+1, 0
	}
	if failed != nil {
		return out, failed
	}
	if len(recs) < topicChunk {
		s.next[p], s.skip[p] = max(s.next[p], consumed+1), 0 // nothing else up to consumed
	}
	return out, nil
}
