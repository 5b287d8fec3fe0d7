package journal

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// ErrWrongExpectedSeqNr: a conditional append found the journal's highest seqNr different from the
// expected one, and wrote nothing. The error is a *WrongExpectedSeqNrError.
var ErrWrongExpectedSeqNr = errors.New("journal: wrong expected seqNr")

// WrongExpectedSeqNrError reports a failed conditional append; it wraps ErrWrongExpectedSeqNr.
type WrongExpectedSeqNrError struct {
	Key      Key
	Expected SeqNr
	// Actual is the journal's highest seqNr, 0 when it has no events.
	Actual SeqNr
}

func (e *WrongExpectedSeqNrError) Error() string {
	if e.Actual == 0 {
		return fmt.Sprintf("append %s: expected seqNr %d, the journal has no events", e.Key, e.Expected)
	}
	return fmt.Sprintf("append %s: expected seqNr %d, the journal's highest is %d", e.Key, e.Expected, e.Actual)
}
func (e *WrongExpectedSeqNrError) Unwrap() error { return ErrWrongExpectedSeqNr }

// Fence makes conditional appends exact across processes: a compare-and-set register per journal
// holding the highest seqNr a conditional append claimed, with when (journal/cassandra implements it
// with lightweight transactions on a table of its own). Config.Fence turns it on.
type Fence interface {
	// Claimed reads the journal's register, linearizably; ok is false when it has none.
	Claimed(ctx context.Context, key Key) (c FenceClaim, ok bool, err error)
	// Claim sets the register to next (claimed now) if it still holds prev (with prevOK false: if
	// the journal has none). When it does not, current is what the register holds (the zero claim
	// when it has none).
	Claim(ctx context.Context, key Key, prev FenceClaim, prevOK bool, next SeqNr) (applied bool, current FenceClaim, err error)
	// Reset removes the journal's register (after a Purge: the journal starts anew).
	Reset(ctx context.Context, key Key) error
}

// FenceClaim is the register of a Fence: the highest seqNr a conditional append claimed, and when.
type FenceClaim struct {
	SeqNr SeqNr
	At    time.Time
}

// AppendIf appends events only if the journal's highest seqNr is expected (0: the journal has no
// events), else it fails with a *WrongExpectedSeqNrError and writes nothing.
//
// Within one Journals it is exact: the conditional appends of a journal run one at a time, and
// while one runs, no other Append or Purge of the journal through this Journals is in flight (they
// hold the journal's write lock shared, AppendIf holds it exclusively). The highest seqNr is read
// after a Mark produced under the lock, so it reflects every action acknowledged before, this
// process's own appends included, whether or not the head cache's consumer has seen them yet.
//
// Without Config.Fence, writers in other processes are not fenced: an append by another sidecar
// that Kafka stores between this call's Mark and its record goes unnoticed, and both are written.
// With it, see appendFenced.
func (j Journal) AppendIf(ctx context.Context, expected SeqNr, events []Event, opts AppendOptions) (po PartitionOffset, err error) {
	if expected < 0 {
		return po, &SeqNrError{SeqNr: int64(expected)}
	}
	if err := j.checkAppend(events); err != nil {
		return po, err
	}
	l := j.js.writers.of(j.key)
	l.Lock()
	defer l.Unlock()
	if j.js.cfg.Fence != nil {
		return j.appendFenced(ctx, expected, events, opts)
	}
	h, err := j.head(ctx)
	if err != nil {
		return po, fmt.Errorf("append %s: %w", j.key, err)
	}
	if h.highest != expected {
		return po, &WrongExpectedSeqNrError{Key: j.key, Expected: expected, Actual: h.highest}
	}
	return j.append(ctx, events, opts)
}

// appendFenced is AppendIf across processes. The journal's base is the highest seqNr of the head
// (after a Mark), or the fence's claim when that is higher: a conditional append elsewhere claimed
// it and its record is not in Kafka yet. Such a claim is waited for (its record is on its way) until
// it is Config.FenceStale old; then its append is taken as failed, and the journal continues above
// it, leaving a gap. The append goes ahead only if the base is expected and the claim is moved from
// what was read to the append's last seqNr in one compare-and-set. Every successful conditional
// append moves the claim, so two of them cannot start from the same base: exact, provided no
// record lands more than FenceStale after its claim (the producer gives up long before).
func (j Journal) appendFenced(ctx context.Context, expected SeqNr, events []Event, opts AppendOptions) (po PartitionOffset, err error) {
	fence := j.js.cfg.Fence
	for {
		claim, claimed, err := fence.Claimed(ctx, j.key)
		if err != nil {
			return po, fmt.Errorf("append %s: fence: %w", j.key, err)
		}
		h, err := j.head(ctx)
		if err != nil {
			return po, fmt.Errorf("append %s: %w", j.key, err)
		}
		base := h.highest
		if claimed && claim.SeqNr > base {
			if time.Since(claim.At) < j.js.cfg.FenceStale {
				if err := sleepCtx(ctx, fenceRetry); err != nil {
					return po, err
				}
				continue
			}
			base = claim.SeqNr
		}
		if base != expected {
			return po, &WrongExpectedSeqNrError{Key: j.key, Expected: expected, Actual: base}
		}
		applied, current, err := fence.Claim(ctx, j.key, claim, claimed, events[len(events)-1].SeqNr)
		if err != nil {
			return po, fmt.Errorf("append %s: fence: %w", j.key, err)
		}
		if !applied {
			return po, &WrongExpectedSeqNrError{Key: j.key, Expected: expected, Actual: max(current.SeqNr, base)}
		}
		return j.append(ctx, events, opts)
	}
}

// fenceRetry is how long a fenced conditional append waits for another one's record to reach the
// journal before it looks again.
const fenceRetry = 20 * time.Millisecond

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// writeLocks serialise the conditional appends of a journal against every other write of it in
// this process: a fixed array of RWMutexes picked by the key's hash, so a plain append costs an
// uncontended RLock and no allocation. Two journals sharing a lock only means a conditional append
// of one briefly waits for the writes of the other.
type writeLocks struct {
	seed  maphash.Seed
	locks [256]sync.RWMutex
}

func newWriteLocks() *writeLocks { return &writeLocks{seed: maphash.MakeSeed()} }

func (w *writeLocks) of(key Key) *sync.RWMutex {
	var h maphash.Hash
	h.SetSeed(w.seed)
	_, _ = h.WriteString(key.Topic)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(key.ID)
	return &w.locks[h.Sum64()%uint64(len(w.locks))]
}
