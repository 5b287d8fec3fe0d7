package journal_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
)

// memFence is a journal.Fence in memory.
type memFence struct {
	mu     sync.Mutex
	claims map[journal.Key]journal.FenceClaim
}

func (f *memFence) Claimed(_ context.Context, key journal.Key) (journal.FenceClaim, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[key]
	return c, ok, nil
}

func (f *memFence) Claim(_ context.Context, key journal.Key, prev journal.FenceClaim, prevOK bool, next journal.SeqNr) (bool, journal.FenceClaim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[key]
	if ok != prevOK || ok && c.SeqNr != prev.SeqNr {
		return false, c, nil
	}
	f.claims[key] = journal.FenceClaim{SeqNr: next, At: time.Now()}
	return true, journal.FenceClaim{}, nil
}

func (f *memFence) Reset(_ context.Context, key journal.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.claims, key)
	return nil
}

func wrongSeqNr(t *testing.T, err error, actual journal.SeqNr) {
	t.Helper()
	var we *journal.WrongExpectedSeqNrError
	if !errors.As(err, &we) || we.Actual != actual || !errors.Is(err, journal.ErrWrongExpectedSeqNr) {
		t.Fatalf("got %v, want a wrong expected seqNr with actual %d", err, actual)
	}
}

func TestJournal_AppendIfFenced(t *testing.T) {
	fence := &memFence{claims: map[journal.Key]journal.FenceClaim{}}
	js, err := journal.New(journal.Config{Log: &journaltest.Log{}, Eventual: &journaltest.Eventual{}, Fence: fence,
		FenceStale: 300 * time.Millisecond, HeadCache: journal.HeadCacheConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := journal.Key{Topic: "t", ID: "fenced"}
	j := js.Journal(key)
	ev := func(s journal.SeqNr) []journal.Event { return []journal.Event{{SeqNr: s}} }

	if _, err := j.AppendIf(ctx, 0, ev(1), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	wrongSeqNr(t, func() error { _, err := j.AppendIf(ctx, 0, ev(1), journal.AppendOptions{}); return err }(), 1)
	// A plain append moves the journal past the fence: the next conditional append starts from it.
	if _, err := j.Append(ctx, ev(2), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.AppendIf(ctx, 2, ev(3), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}

	// A claim elsewhere whose record never arrives: waited for while fresh (here up to the caller's
	// deadline), then taken as failed, and the journal continues above it.
	fence.claims[key] = journal.FenceClaim{SeqNr: 5, At: time.Now()}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := j.AppendIf(short, 3, ev(4), journal.AppendOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a fresh claim above the journal: got %v, want the caller's deadline", err)
	}
	wrongSeqNr(t, func() error { _, err := j.AppendIf(ctx, 3, ev(4), journal.AppendOptions{}); return err }(), 5)
	if _, err := j.AppendIf(ctx, 5, ev(6), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if seqNr, _, err := j.Pointer(ctx); err != nil || seqNr != 6 {
		t.Fatalf("pointer %d, %v; want 6", seqNr, err)
	}
	// A purge resets the fence: the journal starts anew from 0.
	if _, err := j.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := j.AppendIf(ctx, 0, ev(1), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}
