package replicator

import (
	"context"
	"sync"
	"time"
)

// pointer2Saver saves a partition's pointer2, and then marks the offset after it for the next
// commit, in a goroutine of its own: a round hands over its last offset and goes on with the next
// records while the save is in flight. Saves coalesce: while one is in flight only the newest
// offset handed over is kept, so a partition has at most one pointer2 write in flight (writes
// never overtake each other, pointer2 never goes back) and at most one per round. The commit of an
// offset follows the save of pointer2 at it, which follows the round's Cassandra writes: Kafka's
// committed offset never passes what Cassandra holds.
type pointer2Saver struct {
	ps   *partition
	kick chan struct{} // a new offset was handed over
	stop chan struct{} // the claim ended: save the newest offset once more, then return
	done chan struct{} // the loop returned

	mu   sync.Mutex
	want int64 // the last offset of the newest round done; -1: none yet
	ts   time.Time

	// Owned by the loop.
	saved     int64 // pointer2 in Cassandra
	hasRow    bool  // the partition has a pointer2 row
	committed int64 // the offset marked for commit last (the next to consume)
}

func newPointer2Saver(ps *partition, pointer2 int64, hasRow bool) *pointer2Saver {
	return &pointer2Saver{
		ps: ps, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		want: -1, saved: pointer2, hasRow: hasRow, committed: -1,
	}
}

// save hands over the last offset of a round whose Cassandra writes are done; it does not wait.
func (s *pointer2Saver) save(last int64, ts time.Time) {
	s.mu.Lock()
	if last > s.want {
		s.want, s.ts = last, ts
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run saves what is handed over until close.
func (s *pointer2Saver) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-s.kick:
			s.flush(ctx)
		case <-s.stop:
			s.flush(ctx)
			return
		}
	}
}

// close saves the newest offset handed over (one attempt once the claim ended) and stops the loop.
func (s *pointer2Saver) close() {
	close(s.stop)
	<-s.done
}

// flush saves pointer2 at the newest offset handed over, unless pointer2 is there already (a
// round of records below it), and marks the offset after it for commit, retrying a failed save
// with backoff while the claim lasts.
func (s *pointer2Saver) flush(ctx context.Context) {
	ps, t := s.ps, s.ps.t
	bo := t.r.backoff()
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		want, ts := s.want, s.ts
		s.mu.Unlock()
		if want > s.saved {
			save := t.r.store.SavePointer2
			if s.hasRow {
				save = t.r.store.UpdatePointer2
			}
			if err := save(ctx, t.topic, ps.p, want, ts); err != nil {
				t.r.m.errors.WithLabelValues(t.topic, stagePointer2).Inc()
				t.failed(ps.p, false, err)
				wait := bo.next()
				ps.log.Warn("cannot save pointer2, retrying", "offset", want, "attempt", attempt, "error", err, "backoff", wait)
				if !sleepClaim(ps.c, wait) {
					return
				}
				continue
			}
			s.saved, s.hasRow = want, true
			t.setPointer2(ps.p, want)
		}
		if want >= 0 && want+1 > s.committed {
			ps.c.Commit(want + 1)
			s.committed = want + 1
		}
		return
	}
}
