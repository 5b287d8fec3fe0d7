package journal

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
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

// AppendIf appends events only if the journal's highest seqNr is expected (0: the journal has no
// events), else it fails with a *WrongExpectedSeqNrError and writes nothing.
//
// Within one Journals it is exact: the conditional appends of a journal run one at a time, and
// while one runs, no other Append or Purge of the journal through this Journals is in flight (they
// hold the journal's write lock shared, AppendIf holds it exclusively). The highest seqNr is read
// after a Mark produced under the lock, so it reflects every action acknowledged before, this
// process's own appends included, whether or not the head cache's consumer has seen them yet.
//
// Writers in other processes are not fenced: an append by another sidecar that Kafka stores
// between this call's Mark and its record goes unnoticed, and both are written.
func (j Journal) AppendIf(ctx context.Context, expected SeqNr, events []Event, opts AppendOptions) (po PartitionOffset, err error) {
	if expected < 0 {
		return po, &SeqNrError{SeqNr: int64(expected)}
	}
	if err := j.key.Validate(); err != nil {
		return po, err
	}
	if err := checkAppend(events); err != nil {
		return po, err
	}
	l := j.js.writers.of(j.key)
	l.Lock()
	defer l.Unlock()
	h, err := j.head(ctx)
	if err != nil {
		return po, fmt.Errorf("append %s: %w", j.key, err)
	}
	if h.highest != expected {
		return po, &WrongExpectedSeqNrError{Key: j.key, Expected: expected, Actual: h.highest}
	}
	return j.append(ctx, events, opts)
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
