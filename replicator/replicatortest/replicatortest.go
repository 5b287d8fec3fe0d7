// Package replicatortest checks what a replicator wrote to Cassandra against the Kafka actions it
// replicated: the expected content of every journal is the fold of its actions in offset order,
// and pointer2 of every partition is the partition's last offset. The replicator's tests and the
// crash test of `kjournal replicator` use it.
//
// The fold follows the original's write side (research §4.5) for writers that behave like the
// journal library: seqNrs that increase, deletes whose delete-to does not go down.
package replicatortest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// Journal is what Cassandra should hold for one journal.
type Journal struct {
	Key journal.Key
	// Exists is false for a journal whose last action was a Purge (no metajournal row).
	Exists bool
	// SeqNr and DeleteTo are the metajournal's seq_nr and delete_to.
	SeqNr, DeleteTo journal.SeqNr
	// Offset is the position of the journal's last action other than a Mark (metajournal
	// partition and offset).
	Offset journal.PartitionOffset
	// Events are the journal rows: the events above DeleteTo, by seqNr.
	Events map[journal.SeqNr]journal.EventRecord
}

// Fold computes the expected journals from the actions of a topic, each partition's in offset
// order. Appends whose value does not decode are an error.
func Fold(actions []journal.ActionRecord) (map[string]*Journal, error) {
	out := map[string]*Journal{}
	for _, a := range actions {
		j := out[a.Key.ID]
		if j == nil {
			j = &Journal{Key: a.Key, Events: map[journal.SeqNr]journal.EventRecord{}}
			out[a.Key.ID] = j
		}
		switch h := a.Header.(type) {
		case *journal.MarkHeader:
			continue
		case *journal.AppendHeader:
			events, md, err := journal.DecodeEvents(a.Value, h.PayloadType)
			if err != nil {
				return nil, fmt.Errorf("%s at %s: %w", a.Key, a.PartitionOffset, err)
			}
			if !j.Exists {
				j.Exists = true
				j.DeleteTo = events[0].SeqNr - 1
			}
			j.SeqNr = events[len(events)-1].SeqNr
			for _, e := range events {
				j.Events[e.SeqNr] = journal.EventRecord{
					Event: e, Timestamp: a.Timestamp, PartitionOffset: a.PartitionOffset,
					Origin: h.Origin, Version: h.Version,
					Metadata: journal.RecordMetadata{Header: h.Metadata, Payload: md},
					Headers:  a.Headers,
				}
			}
		case *journal.DeleteHeader:
			if !j.Exists {
				j.Exists, j.SeqNr, j.DeleteTo = true, h.To, h.To
				break
			}
			seqNr1 := max(j.SeqNr, j.DeleteTo)
			deleteTo1 := min(h.To, seqNr1)
			for s := range j.Events {
				if s <= min(h.To, j.SeqNr) {
					delete(j.Events, s)
				}
			}
			j.SeqNr, j.DeleteTo = seqNr1, deleteTo1
		case *journal.PurgeHeader:
			j.Exists, j.SeqNr, j.DeleteTo = false, 0, 0
			clear(j.Events)
		}
		j.Offset = a.PartitionOffset
	}
	return out, nil
}

// ReadTopic reads the actions of topic from the oldest offset through end (partition -> last
// offset, inclusive), in offset order per partition. Partitions absent from end are not waited for.
func ReadTopic(ctx context.Context, log journal.Log, topic string, end map[int32]int64) ([]journal.ActionRecord, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		actions []journal.ActionRecord
		reached = map[int32]bool{}
		bad     error
	)
	for p, o := range end {
		if o < 0 {
			reached[p] = true
		}
	}
	err := log.Follow(ctx, topic, nil, func(p int32, batch []journal.LogRecord) {
		mu.Lock()
		defer mu.Unlock()
		last, ok := end[p]
		for _, r := range batch {
			if !ok || r.Offset > last {
				break
			}
			if r.Err != nil && bad == nil {
				bad = r.Err
			}
			if r.Action != nil {
				actions = append(actions, *r.Action)
			}
			if r.Offset == last {
				reached[p] = true
			}
		}
		if len(reached) == len(end) {
			cancel()
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reached) != len(end) {
		return nil, fmt.Errorf("read %s: ended before the end offsets %v: %w", topic, end, ctx.Err())
	}
	if bad != nil {
		return nil, bad
	}
	sort.SliceStable(actions, func(i, k int) bool { return actions[i].PartitionOffset.Compare(actions[k].PartitionOffset) < 0 })
	return actions, nil
}

// Diff compares what keyspace (the one store writes) holds for topic with want and end (the
// expected pointer2 per partition) and returns the differences; none means equal. Besides what a
// read returns, it counts the journal rows physically present in a journal's first two segments,
// so rows left behind by a delete or a purge show up too.
func Diff(ctx context.Context, st *cassandra.Store, keyspace, topic string, want map[string]*Journal, end map[int32]int64) ([]string, error) {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	for _, p := range slices.Sorted(maps.Keys(end)) {
		o, ok, err := st.Offset(ctx, topic, p)
		if err != nil {
			return nil, err
		}
		if wantOK := end[p] >= 0; ok != wantOK || (ok && o != end[p]) {
			add("pointer2 %s/%d = %d (present %v), want %d", topic, p, o, ok, end[p])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		j := want[id]
		h, ok, err := st.Head(ctx, j.Key)
		if err != nil {
			return nil, err
		}
		if ok != j.Exists {
			add("%s: metajournal row present %v, want %v", id, ok, j.Exists)
			continue
		}
		rows, err := countRows(ctx, st, keyspace, j.Key)
		if err != nil {
			return nil, err
		}
		if !ok {
			if rows != 0 {
				add("%s: purged, but %d journal rows left", id, rows)
			}
			continue
		}
		if h.SeqNr != j.SeqNr || h.DeleteTo != j.DeleteTo || h.PartitionOffset != j.Offset {
			add("%s: head seq_nr %d delete_to %d at %s, want %d, %d at %s", id, h.SeqNr, h.DeleteTo, h.PartitionOffset, j.SeqNr, j.DeleteTo, j.Offset)
		}
		if rows != len(j.Events) {
			add("%s: %d journal rows, want %d", id, rows, len(j.Events))
		}
		var got []journal.EventRecord
		for e, err := range st.Read(ctx, j.Key, journal.MinSeqNr) {
			if err != nil {
				add("%s: read: %v", id, err)
				break
			}
			got = append(got, e)
		}
		seqNrs := slices.Sorted(maps.Keys(j.Events))
		if len(got) != len(seqNrs) {
			add("%s: read %d events, want %d (seqNrs %v)", id, len(got), len(seqNrs), seqNrList(got))
			continue
		}
		for i, s := range seqNrs {
			if d := diffEvent(got[i], j.Events[s]); d != "" {
				add("%s: event %d: %s", id, s, d)
			}
		}
	}
	return diffs, nil
}

func seqNrList(es []journal.EventRecord) []journal.SeqNr {
	out := make([]journal.SeqNr, len(es))
	for i, e := range es {
		out[i] = e.SeqNr
	}
	return out
}

// diffEvent compares an event read from Cassandra with the one appended.
func diffEvent(got, want journal.EventRecord) string {
	switch {
	case got.SeqNr != want.SeqNr:
		return fmt.Sprintf("seqNr %d", got.SeqNr)
	case !got.Timestamp.Equal(want.Timestamp):
		return fmt.Sprintf("timestamp %s, want %s", got.Timestamp, want.Timestamp)
	case got.PartitionOffset != want.PartitionOffset:
		return fmt.Sprintf("at %s, want %s", got.PartitionOffset, want.PartitionOffset)
	case got.Payload.Type != want.Payload.Type || string(got.Payload.Data) != string(want.Payload.Data):
		return fmt.Sprintf("payload %s %q, want %s %q", got.Payload.Type, got.Payload.Data, want.Payload.Type, want.Payload.Data)
	case !slices.Equal(got.Tags, want.Tags):
		return fmt.Sprintf("tags %v, want %v", got.Tags, want.Tags)
	case got.Origin != want.Origin || got.Version != want.Version:
		return fmt.Sprintf("origin/version %q/%q, want %q/%q", got.Origin, got.Version, want.Origin, want.Version)
	case got.Metadata.Payload.ExpireAfter != want.Metadata.Payload.ExpireAfter:
		return fmt.Sprintf("expireAfter %v, want %v", got.Metadata.Payload.ExpireAfter, want.Metadata.Payload.ExpireAfter)
	case len(got.Headers) != len(want.Headers) || (len(want.Headers) > 0 && !maps.Equal(got.Headers, want.Headers)):
		return fmt.Sprintf("headers %v, want %v", got.Headers, want.Headers)
	}
	return ""
}

// countRows counts the journal rows of key in segments 0 and 1 (the journals of the tests are
// shorter than a segment; a purge's overshoot covers segment 1).
func countRows(ctx context.Context, st *cassandra.Store, keyspace string, key journal.Key) (int, error) {
	total := 0
	for segment := int64(0); segment <= 1; segment++ {
		var n int
		err := st.Session().Query(`SELECT count(*) FROM `+keyspace+`.journal WHERE id = ? AND topic = ? AND segment = ?`,
			key.ID, key.Topic, segment).WithContext(ctx).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("count rows of %s: %w", key, err)
		}
		total += n
	}
	return total, nil
}

// Writer writes journals through the journal library the way a busy application does: appends of
// 1 to 5 events, now and then a delete (of more than the last one) or a purge (after which the
// journal starts again at seqNr 1), many journals at once.
type Writer struct {
	Journals *journal.Journals
	Topic    string
	// Prefix names the journals Prefix-0, Prefix-1, ...; default "w".
	Prefix string
	// Count journals get Events events each (purged ones included). Defaults 10 and 20.
	Count, Events int
	// Workers write concurrently, each to its own journals, pausing Pause between two actions.
	// Default 4 and no pause.
	Workers int
	Pause   time.Duration
	// DeleteEvery and PurgeEvery: on average one delete per DeleteEvery actions and one purge per
	// PurgeEvery actions. Defaults 8 and 30; negative means none.
	DeleteEvery, PurgeEvery int
	// Seed seeds the random choices; 0 means a random seed.
	Seed uint64
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	Appends, Events, Deletes, Purges int
}

// Run writes until every journal got its events, or ctx ends, or an operation fails.
func (w Writer) Run(ctx context.Context) (WriterStats, error) {
	if w.Prefix == "" {
		w.Prefix = "w"
	}
	if w.Count == 0 {
		w.Count = 10
	}
	if w.Events == 0 {
		w.Events = 20
	}
	if w.Workers == 0 {
		w.Workers = 4
	}
	if w.DeleteEvery == 0 {
		w.DeleteEvery = 8
	}
	if w.PurgeEvery == 0 {
		w.PurgeEvery = 30
	}
	seed := w.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	var (
		mu    sync.Mutex
		total WriterStats
		wg    sync.WaitGroup
		errs  = make(chan error, w.Workers)
	)
	for wk := range w.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(wk)))
			type state struct {
				key             journal.Key
				written         int
				seqNr, deleteTo journal.SeqNr
			}
			var mine []*state
			for i := wk; i < w.Count; i += w.Workers {
				mine = append(mine, &state{key: journal.Key{Topic: w.Topic, ID: fmt.Sprintf("%s-%d", w.Prefix, i)}})
			}
			var st WriterStats
			defer func() {
				mu.Lock()
				total.Appends += st.Appends
				total.Events += st.Events
				total.Deletes += st.Deletes
				total.Purges += st.Purges
				mu.Unlock()
			}()
			for len(mine) > 0 {
				if w.Pause > 0 {
					select {
					case <-time.After(w.Pause):
					case <-ctx.Done():
						errs <- ctx.Err()
						return
					}
				}
				i := rnd.IntN(len(mine))
				s := mine[i]
				j := w.Journals.Journal(s.key)
				switch {
				case w.PurgeEvery > 0 && rnd.IntN(w.PurgeEvery) == 0 && s.seqNr > 0:
					if _, err := j.Purge(ctx); err != nil {
						errs <- err
						return
					}
					s.seqNr, s.deleteTo = 0, 0
					st.Purges++
					continue
				case w.DeleteEvery > 0 && rnd.IntN(w.DeleteEvery) == 0 && s.seqNr > s.deleteTo:
					to := s.deleteTo + 1 + journal.SeqNr(rnd.Int64N(int64(s.seqNr-s.deleteTo)))
					if _, _, err := j.Delete(ctx, to); err != nil {
						errs <- err
						return
					}
					s.deleteTo = to
					st.Deletes++
					continue
				}
				n := min(1+rnd.IntN(5), w.Events-s.written)
				events := make([]journal.Event, n)
				for k := range events {
					s.seqNr++
					e := journal.Event{SeqNr: s.seqNr, Payload: journal.JSONPayload(fmt.Appendf(nil, `{"id":%q,"n":%d}`, s.key.ID, s.seqNr))}
					switch rnd.IntN(4) {
					case 0:
						e.Payload = journal.BinaryPayload(fmt.Appendf(nil, "bin-%d", s.seqNr))
					case 1:
						e.Payload = journal.TextPayload(fmt.Sprintf("text %d", s.seqNr))
						e.Tags = []string{"t"}
					}
					events[k] = e
				}
				if _, err := j.Append(ctx, events, journal.AppendOptions{}); err != nil {
					errs <- err
					return
				}
				s.written += n
				st.Appends++
				st.Events += n
				if s.written >= w.Events {
					mine = append(mine[:i], mine[i+1:]...)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return total, <-errs
}
