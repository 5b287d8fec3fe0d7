package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// topicReplicator replicates one topic: it is a member of the topic's consumer group, replicates
// each partition assigned to it in a goroutine of its own, and runs the topic's expiry job while
// it owns partition 0.
type topicReplicator struct {
	r     *Replicator
	topic string
	group string
	log   hclog.Logger

	mu      sync.Mutex
	parts   map[int32]*partitionStatus // the partitions assigned now
	expiry  bool                       // the expiry job runs here
	joined  bool                       // the group member exists
	purged  map[string]int64           // the expiry job's recent purges: id -> offset
	lastRun time.Time                  // the expiry job's last run
}

// partitionStatus is what /readyz and Status report of one assigned partition.
type partitionStatus struct {
	failingSince time.Time // zero while rounds succeed
	poison       bool      // the failing round stops at a poison record (stall mode)
	lastErr      string
	pointer2     int64
}

func newTopicReplicator(r *Replicator, topic string) *topicReplicator {
	return &topicReplicator{
		r:      r,
		topic:  topic,
		group:  r.cfg.GroupPrefix + "-" + topic,
		log:    r.log.With("topic", topic),
		parts:  map[int32]*partitionStatus{},
		purged: map[string]int64{},
	}
}

// run keeps a group member of the topic running until ctx ends; the member's rounds finish and
// commit, and it leaves the group, before run returns.
func (t *topicReplicator) run(ctx context.Context) {
	bo := t.r.backoff()
	for ctx.Err() == nil {
		g, err := t.r.consumers.join(t.topic, t.group)
		if err != nil {
			t.r.m.errors.WithLabelValues(t.topic, stageGroup).Inc()
			wait := bo.next()
			t.log.Warn("cannot create consumer group member, retrying", "group", t.group, "error", err, "backoff", wait)
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		t.setJoined(true)
		t.log.Info("replicating topic", "group", t.group)
		err = g.run(ctx, t.consume)
		if cerr := g.close(); cerr != nil {
			t.log.Warn("leaving consumer group", "group", t.group, "error", cerr)
		}
		t.setJoined(false)
		if ctx.Err() != nil {
			t.log.Info("left consumer group", "group", t.group)
			return
		}
		t.r.m.errors.WithLabelValues(t.topic, stageGroup).Inc()
		wait := bo.next()
		t.log.Warn("consumer group member stopped, joining again", "group", t.group, "error", err, "backoff", wait)
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// partition is the state of one assigned partition while its claim lasts.
type partition struct {
	t        *topicReplicator
	c        claim
	p        int32
	log      hclog.Logger
	pointer2 int64 // the last offset whose round is done (Cassandra has it); -1: none
	skipped  int64 // the highest poison record skipped and counted
	heads    *headCache
	saver    *pointer2Saver
}

// consume replicates one assigned partition until its claim ends: it reads pointer2, then runs one
// round per batch of records, retrying a failed round (same records) with backoff until it
// succeeds or the claim ends.
func (t *topicReplicator) consume(c claim) {
	p := c.Partition()
	ps := &partition{t: t, c: c, p: p, log: t.log.With("partition", p), pointer2: -1, skipped: -1,
		heads: newHeadCache(t.r.cfg.HeadCacheSize)}
	t.assigned(p)
	defer t.revoked(p)
	ctx := t.r.writeCtx

	bo := t.r.backoff()
	hasRow := false
	for attempt := 1; ; attempt++ {
		off, ok, err := t.r.store.Offset(ctx, t.topic, p)
		if err == nil {
			if ok {
				ps.pointer2, hasRow = off, true
			}
			break
		}
		t.r.m.errors.WithLabelValues(t.topic, stagePointer2).Inc()
		wait := bo.next()
		ps.log.Warn("cannot read pointer2, retrying", "attempt", attempt, "error", err, "backoff", wait)
		if !sleepClaim(c, wait) {
			return
		}
	}
	t.setPointer2(p, ps.pointer2)
	ps.log.Debug("partition assigned", "pointer2", ps.pointer2)
	ps.saver = newPointer2Saver(ps, ps.pointer2, hasRow)
	go ps.saver.run(ctx)
	defer ps.saver.close()

	if p == 0 && t.r.cfg.expiryEnabled() {
		ectx, cancel := context.WithCancel(t.r.runCtx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.expiryLoop(ectx)
		}()
		go func() {
			<-c.Done()
			cancel()
		}()
		defer wg.Wait()
		defer cancel()
	}

	var pending []journal.LogRecord // the records of a failed round, retried before anything new
	bo = t.r.backoff()
	for attempt := 1; ; attempt++ {
		recs := pending
		if recs == nil {
			var ok bool
			if recs, ok = c.Next(); !ok {
				return
			}
			attempt = 1
		}
		rest, err := ps.round(ctx, recs)
		if err == nil {
			pending = nil
			bo = t.r.backoff()
			t.succeeded(p)
			continue
		}
		pending = rest
		var pe *PoisonError
		poison := errors.As(err, &pe)
		t.failed(p, poison, err)
		ps.setLag(ps.pointer2)
		t.r.m.errors.WithLabelValues(t.topic, stageRound).Inc()
		wait := bo.next()
		if poison {
			ps.log.Error("poison record: the partition stalls at it (poison mode stall); retrying",
				"offset", pe.Offset, "id", pe.ID, "attempt", attempt, "error", pe.Err, "backoff", wait)
		} else {
			ps.log.Warn("round failed, retrying the same records",
				"from_offset", rest[0].Offset, "to_offset", rest[len(rest)-1].Offset, "attempt", attempt, "error", err, "backoff", wait)
		}
		if !sleepClaim(c, wait) {
			return
		}
	}
}

// appendEvents are the decoded events of one Append record.
type appendEvents struct {
	events []journal.Event
	md     journal.PayloadMetadata
}

// round replicates recs (consecutive records of the partition, in offset order): records at or
// below pointer2 (or a round done before) are skipped; the others are grouped by journal, each
// journal's actions compacted and applied in offset order (journals in parallel); then the last
// offset goes to the pointer2 saver, which saves pointer2 and then marks the offset after it for
// commit while the next round runs. Cassandra always has the records before Kafka's offset moves
// past them.
//
// A poison record in stall mode ends the round before it: the records before it are replicated
// and handed to the saver, and round returns the records from the poison record on with a
// *PoisonError. Any other error hands nothing over and returns all of recs, to be retried.
func (ps *partition) round(ctx context.Context, recs []journal.LogRecord) (rest []journal.LogRecord, err error) {
	t := ps.t
	start := time.Now()
	ts := t.r.cfg.Now()
	last := int64(-1) // the last offset this round covers
	byKey := map[string][]journal.ActionRecord{}
	var keys []string
	decoded := map[int64]appendEvents{}
	var poisonErr error
	n := 0
	for i, rec := range recs {
		if rec.Offset <= ps.pointer2 {
			last, n = rec.Offset, n+1
			continue
		}
		perr := rec.Err
		if perr == nil && rec.Action != nil {
			if h, ok := rec.Action.Header.(*journal.AppendHeader); ok {
				ae, err := decodeAppend(rec.Action, h)
				if err != nil {
					perr = err
				} else {
					decoded[rec.Offset] = ae
				}
			}
		}
		if perr != nil {
			pe := &PoisonError{Topic: t.topic, Partition: ps.p, Offset: rec.Offset, ID: rec.ID, Err: perr}
			if t.r.cfg.OnPoison != PoisonSkip {
				rest, poisonErr = recs[i:], pe
				break
			}
			if rec.Offset > ps.skipped {
				ps.skipped = rec.Offset
				t.r.m.poisonSkipped.WithLabelValues(t.topic).Inc()
				ps.log.Error("skipping poison record (poison mode skip); its journal loses this action",
					"offset", rec.Offset, "id", rec.ID, "error", perr)
			}
			last, n = rec.Offset, n+1
			continue
		}
		last, n = rec.Offset, n+1
		a := rec.Action
		if a == nil || a.Header.Kind() == journal.ActionMark {
			continue // no action, or a Mark: only the offsets move
		}
		if _, ok := byKey[rec.ID]; !ok {
			keys = append(keys, rec.ID)
		}
		byKey[rec.ID] = append(byKey[rec.ID], *a)
	}

	if err := ps.applyKeys(ctx, keys, byKey, decoded, ts); err != nil {
		return recs, err
	}
	if last < 0 { // the round starts at a poison record
		return rest, poisonErr
	}
	ps.pointer2 = max(ps.pointer2, last)
	ps.saver.save(last, ts)
	m := t.r.m
	m.records.WithLabelValues(t.topic).Add(float64(n))
	m.roundDuration.WithLabelValues(t.topic).Observe(time.Since(start).Seconds())
	ps.setLag(last)
	return rest, poisonErr
}

// setLag sets the partition's lag: the records after last (the last offset replicated).
func (ps *partition) setLag(last int64) {
	if hwm := ps.c.HighWaterMark(); hwm > 0 {
		ps.t.r.m.lag.WithLabelValues(ps.t.topic, partitionLabel(ps.p)).Set(float64(max(hwm-last-1, 0)))
	}
}

// applyKeys applies every journal's actions, KeyParallelism journals at a time. A failing journal
// does not stop the others; the first error is returned after all finished.
func (ps *partition) applyKeys(ctx context.Context, keys []string, byKey map[string][]journal.ActionRecord, decoded map[int64]appendEvents, ts time.Time) error {
	if len(keys) == 1 {
		return ps.applyKey(ctx, keys[0], byKey[keys[0]], decoded, ts)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, ps.t.r.cfg.KeyParallelism)
	for _, id := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := ps.applyKey(ctx, id, byKey[id], decoded, ts); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d journals failed, the first: %w", len(errs), len(keys), errs[0])
	}
	return nil
}

// applyKey compacts one journal's actions and applies the batches in offset order, starting from
// the journal's metajournal row in the head cache (read on a miss), and leaves the row written
// there; a failed write drops it, so that the retry reads it again.
//
// When compaction drops Appends (they precede a Purge, or a Delete covers them) and the journal
// has no metajournal row, the actions are applied one by one instead. An earlier attempt at the
// same records may have been interrupted between a new journal's rows and its metajournal row
// (rows go first); applying the dropped Append again adopts those rows, so that the Delete or
// Purge that follows removes them. Compacted, the Delete would leave them under delete_to, and the
// Purge, finding no row, would leave them to reappear in the journal's next incarnation. (A
// journal with a row is safe: a Delete removes everything up to its seq_nr, and a Purge the
// segments around it.)
func (ps *partition) applyKey(ctx context.Context, id string, records []journal.ActionRecord, decoded map[int64]appendEvents, ts time.Time) error {
	t := ps.t
	key := journal.Key{Topic: t.topic, ID: id}
	m := t.r.m
	k, ok := ps.heads.get(id)
	if !ok {
		h, found, err := t.r.store.Head(ctx, key)
		if err != nil {
			return fmt.Errorf("read head of %s: %w", key, err)
		}
		k = cassandra.Known{Head: h, Found: found}
	}
	batches := compact(records)
	if !k.Found && dropsAppends(records, batches) {
		batches = uncompacted(records)
	}
	for _, b := range batches {
		po := journal.PartitionOffset{Partition: ps.p, Offset: b.Offset}
		var (
			changed bool
			err     error
			action  time.Time // the timestamp of the batch's youngest action
		)
		switch b.Kind {
		case journal.ActionAppend:
			var events []journal.EventRecord
			for _, a := range b.Appends {
				h := a.Header.(*journal.AppendHeader)
				ae := decoded[a.Offset]
				for _, e := range ae.events {
					events = append(events, journal.EventRecord{
						Event:           e,
						Timestamp:       a.Timestamp,
						PartitionOffset: a.PartitionOffset,
						Origin:          h.Origin,
						Version:         h.Version,
						Metadata:        journal.RecordMetadata{Header: h.Metadata, Payload: ae.md},
						Headers:         a.Headers,
					})
				}
			}
			youngest := b.Appends[len(b.Appends)-1]
			action = youngest.Timestamp
			expireAfter := decoded[youngest.Offset].md.ExpireAfter
			changed, err = t.r.store.AppendKnown(ctx, key, &k, po, ts, expireAfter, events)
			if err == nil && changed {
				m.events.WithLabelValues(t.topic).Add(float64(len(events)))
			}
		case journal.ActionDelete:
			action = recordAt(records, b.Offset).Timestamp
			changed, err = t.r.store.DeleteKnown(ctx, key, &k, po, ts, b.To, b.Origin)
		case journal.ActionPurge:
			action = recordAt(records, b.Offset).Timestamp
			changed, err = t.r.store.PurgeKnown(ctx, key, &k, po, ts)
		}
		if err != nil {
			ps.heads.drop(id)
			return fmt.Errorf("%s %s at %s: %w", b.Kind, key, po, err)
		}
		if changed {
			m.actions.WithLabelValues(t.topic, string(b.Kind)).Inc()
			m.latency.WithLabelValues(t.topic, string(b.Kind)).Observe(time.Since(action).Seconds())
			if t.log.IsTrace() {
				t.log.Trace("replicated", "partition", ps.p, "offset", b.Offset, "id", id, "type", b.Kind)
			}
		}
	}
	ps.heads.put(id, k)
	return nil
}

// recordAt returns the record at offset among one journal's records of a round.
func recordAt(records []journal.ActionRecord, offset int64) journal.ActionRecord {
	i := slices.IndexFunc(records, func(r journal.ActionRecord) bool { return r.Offset == offset })
	return records[max(i, 0)]
}

// decodeAppend decodes an Append's events and checks what Cassandra needs of them, so that a
// record Cassandra would reject is found (and handled as a poison record) before anything of the
// round is written.
func decodeAppend(a *journal.ActionRecord, h *journal.AppendHeader) (appendEvents, error) {
	events, md, err := journal.DecodeEvents(a.Value, h.PayloadType)
	if err != nil {
		return appendEvents{}, err
	}
	if len(events) == 0 {
		return appendEvents{}, fmt.Errorf("%w: an append without events", journal.ErrMalformedEvents)
	}
	for i, e := range events {
		if err := e.SeqNr.Validate(); err != nil {
			return appendEvents{}, fmt.Errorf("%w: %w", journal.ErrMalformedEvents, err)
		}
		if i > 0 && e.SeqNr <= events[i-1].SeqNr {
			return appendEvents{}, fmt.Errorf("%w: seqNr %d follows %d", journal.ErrMalformedEvents, e.SeqNr, events[i-1].SeqNr)
		}
		switch e.Payload.Type {
		case "", journal.PayloadBinary, journal.PayloadText:
		case journal.PayloadJSON:
			if !json.Valid(e.Payload.Data) {
				return appendEvents{}, fmt.Errorf("%w: seqNr %d: invalid JSON payload", journal.ErrMalformedEvents, e.SeqNr)
			}
		default:
			return appendEvents{}, fmt.Errorf("%w: seqNr %d: payload type %q", journal.ErrUnsupportedPayloadType, e.SeqNr, e.Payload.Type)
		}
	}
	if md.ExpireAfter < 0 {
		return appendEvents{}, fmt.Errorf("%w: negative expireAfter %v", journal.ErrMalformedEvents, md.ExpireAfter)
	}
	return appendEvents{events: events, md: md}, nil
}

// Status bookkeeping.

func (t *topicReplicator) setJoined(v bool) {
	t.mu.Lock()
	t.joined = v
	t.mu.Unlock()
}

func (t *topicReplicator) assigned(p int32) {
	t.mu.Lock()
	t.parts[p] = &partitionStatus{pointer2: -1}
	n := len(t.parts)
	t.mu.Unlock()
	t.r.m.partitions.WithLabelValues(t.topic).Set(float64(n))
}

func (t *topicReplicator) revoked(p int32) {
	t.mu.Lock()
	st := t.parts[p]
	delete(t.parts, p)
	n, stalled := len(t.parts), t.stalledLocked()
	t.mu.Unlock()
	t.r.m.partitions.WithLabelValues(t.topic).Set(float64(n))
	t.r.m.stalled.WithLabelValues(t.topic).Set(float64(stalled))
	t.r.m.lag.DeleteLabelValues(t.topic, partitionLabel(p))
	if st != nil {
		t.log.Debug("partition released", "partition", p, "pointer2", st.pointer2)
	}
}

func (t *topicReplicator) setPointer2(p int32, pointer2 int64) {
	t.mu.Lock()
	if st := t.parts[p]; st != nil {
		st.pointer2 = pointer2
	}
	t.mu.Unlock()
}

func (t *topicReplicator) succeeded(p int32) {
	t.mu.Lock()
	st := t.parts[p]
	changed := st != nil && !st.failingSince.IsZero()
	if st != nil {
		st.failingSince, st.poison, st.lastErr = time.Time{}, false, ""
	}
	stalled := t.stalledLocked()
	t.mu.Unlock()
	if changed {
		t.r.m.stalled.WithLabelValues(t.topic).Set(float64(stalled))
		t.log.Info("partition replicating again", "partition", p)
	}
}

// failed records a failed round (poison: stalled at a poison record), or a failed pointer2 save
// (which leaves a poison stall reported as it is).
func (t *topicReplicator) failed(p int32, poison bool, err error) {
	t.mu.Lock()
	if st := t.parts[p]; st != nil {
		if st.failingSince.IsZero() {
			st.failingSince = time.Now()
		}
		if poison || !st.poison {
			st.poison, st.lastErr = poison, err.Error()
		}
	}
	stalled := t.stalledLocked()
	t.mu.Unlock()
	t.r.m.stalled.WithLabelValues(t.topic).Set(float64(stalled))
}

func (t *topicReplicator) stalledLocked() int {
	n := 0
	for _, st := range t.parts {
		if !st.failingSince.IsZero() {
			n++
		}
	}
	return n
}

// Backoff and waiting.

type backoff struct {
	min, max, cur time.Duration
}

func (r *Replicator) backoff() *backoff {
	return &backoff{min: r.cfg.RetryMin, max: r.cfg.RetryMax}
}

// next returns the next wait: cur doubled (from min, up to max), with jitter in [cur/2, cur].
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	if b.cur <= 1 {
		return b.cur
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

// sleepClaim waits d; false when the claim ended first.
func sleepClaim(c claim, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.Done():
		return false
	}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
