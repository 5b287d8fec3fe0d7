// Package journaltest has in-memory implementations of journal.Log and journal.Eventual for fast unit
// tests of the journal's pure logic (HeadInfo folding, the read merge, the head cache index). They model
// Kafka as per-partition record slices and Cassandra as the fold the replicator would write; they are
// never what an integration test claims to test.
package journaltest

import (
	"context"
	"hash/fnv"
	"iter"
	"slices"
	"sort"
	"sync"

	"github.com/kjournal/kjournal/journal"
)

// Log is an in-memory Kafka: topics with a fixed number of partitions, records in offset order.
type Log struct {
	NumPartitions int32 // partitions per topic; default 4
	// Duplicate makes every Produce write its record twice (a producer retry), as reads must cope.
	Duplicate bool

	mu      sync.Mutex
	topics  map[string][][]journal.ActionRecord
	changed chan struct{}
	scans   int
	follows int
}

var _ journal.Log = (*Log)(nil)

func (l *Log) init() {
	if l.topics == nil {
		l.topics = map[string][][]journal.ActionRecord{}
		l.changed = make(chan struct{})
		if l.NumPartitions == 0 {
			l.NumPartitions = 4
		}
	}
}

func (l *Log) partitionFor(id string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int32(h.Sum32() % uint32(l.NumPartitions))
}

// Produce appends the action to its partition.
func (l *Log) Produce(ctx context.Context, a journal.Action) (journal.PartitionOffset, error) {
	if err := ctx.Err(); err != nil {
		return journal.PartitionOffset{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	t := l.topics[a.Key.Topic]
	if t == nil {
		t = make([][]journal.ActionRecord, l.NumPartitions)
		l.topics[a.Key.Topic] = t
	}
	p := l.partitionFor(a.Key.ID)
	n := 1
	if l.Duplicate {
		n = 2
	}
	var po journal.PartitionOffset
	for range n {
		po = journal.PartitionOffset{Partition: p, Offset: int64(len(t[p]))}
		t[p] = append(t[p], journal.ActionRecord{Action: a, PartitionOffset: po})
	}
	close(l.changed)
	l.changed = make(chan struct{})
	if l.Duplicate {
		po.Offset-- // the first copy is the one acknowledged
	}
	return po, nil
}

// ProduceAsync is Produce, calling done before it returns.
func (l *Log) ProduceAsync(ctx context.Context, a journal.Action, done func(journal.PartitionOffset, error)) {
	done(l.Produce(ctx, a))
}

// Partitions lists 0..NumPartitions-1.
func (l *Log) Partitions(ctx context.Context, topic string) ([]int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	ps := make([]int32, l.NumPartitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps, nil
}

// Records returns a copy of a partition's records.
func (l *Log) Records(topic string, partition int32) []journal.ActionRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	if t := l.topics[topic]; t != nil {
		return slices.Clone(t[partition])
	}
	return nil
}

// Scan calls fn for the records of id (of every journal when id is "") in [from, to].
func (l *Log) Scan(ctx context.Context, topic string, partition int32, from, to int64, id string, fn func(journal.ActionRecord) error) error {
	l.mu.Lock()
	l.scans++
	l.mu.Unlock()
	for _, r := range l.Records(topic, partition) {
		if r.Offset < from || id != "" && r.Key.ID != id {
			continue
		}
		if r.Offset > to {
			break
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Follow delivers every record from the given offsets on, then waits for more until ctx ends.
func (l *Log) Follow(ctx context.Context, topic string, from map[int32]int64, fn func(int32, []journal.LogRecord)) error {
	l.mu.Lock()
	l.init()
	l.follows++
	pos := make([]int64, l.NumPartitions)
	for p := range pos {
		pos[p] = from[int32(p)]
	}
	l.mu.Unlock()
	for {
		l.mu.Lock()
		changed := l.changed
		var batches [][]journal.LogRecord
		if t := l.topics[topic]; t != nil {
			batches = make([][]journal.LogRecord, len(t))
			for p := range t {
				for _, r := range t[p][min(pos[p], int64(len(t[p]))):] {
					rec := r
					batches[p] = append(batches[p], journal.LogRecord{Offset: r.Offset, ID: r.Key.ID, Action: &rec})
				}
				pos[p] = int64(len(t[p]))
			}
		}
		l.mu.Unlock()
		for p, b := range batches {
			if len(b) > 0 {
				fn(int32(p), b)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Scans is the number of Scan calls (each would open a pooled consumer).
func (l *Log) Scans() int { l.mu.Lock(); defer l.mu.Unlock(); return l.scans }

// Follows is the number of Follow calls (each opens a consumer).
func (l *Log) Follows() int { l.mu.Lock(); defer l.mu.Unlock(); return l.follows }

// Eventual is an in-memory Cassandra holding what the replicator would have written after applying a
// prefix of each partition. Replicate moves that prefix forward.
type Eventual struct {
	mu       sync.Mutex
	journals map[journal.Key]*journalState
	pointer2 map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

type journalState struct {
	seqNr    journal.SeqNr
	deleteTo journal.SeqNr
	events   map[journal.SeqNr]journal.EventRecord
}

var _ journal.Eventual = (*Eventual)(nil)

// Replicate applies the records of topic/partition with offsets in (pointer2, upTo] as the replicator
// does (research §4.5) and moves pointer2 to upTo.
func (e *Eventual) Replicate(l *Log, topic string, partition int32, upTo int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.journals == nil {
		e.journals = map[journal.Key]*journalState{}
		e.pointer2 = map[topicPartition]int64{}
	}
	tp := topicPartition{topic, partition}
	start := int64(0)
	if o, ok := e.pointer2[tp]; ok {
		start = o + 1
	}
	for _, r := range l.Records(topic, partition) {
		if r.Offset < start || r.Offset > upTo {
			continue
		}
		st := e.journals[r.Key]
		switch h := r.Header.(type) {
		case *journal.AppendHeader:
			events, md, err := journal.DecodeEvents(r.Value, h.PayloadType)
			if err != nil {
				return err
			}
			if st == nil {
				st = &journalState{events: map[journal.SeqNr]journal.EventRecord{}}
				if events[0].SeqNr > 1 {
					st.deleteTo = events[0].SeqNr - 1
				}
				e.journals[r.Key] = st
			}
			for _, ev := range events {
				st.events[ev.SeqNr] = journal.EventRecord{Event: ev, Timestamp: r.Timestamp, PartitionOffset: r.PartitionOffset,
					Origin: h.Origin, Version: h.Version, Metadata: journal.RecordMetadata{Header: h.Metadata, Payload: md}, Headers: r.Headers}
			}
			st.seqNr = events[len(events)-1].SeqNr
		case *journal.DeleteHeader:
			if st == nil {
				st = &journalState{seqNr: h.To, deleteTo: h.To, events: map[journal.SeqNr]journal.EventRecord{}}
				e.journals[r.Key] = st
				continue
			}
			seqNr := max(st.seqNr, st.deleteTo)
			st.deleteTo = max(st.deleteTo, min(h.To, seqNr))
			st.seqNr = seqNr
			for s := range st.events {
				if s <= st.deleteTo {
					delete(st.events, s)
				}
			}
		case *journal.PurgeHeader:
			delete(e.journals, r.Key)
		}
	}
	if cur, ok := e.pointer2[tp]; upTo >= 0 && (!ok || upTo > cur) {
		e.pointer2[tp] = upTo
	}
	return nil
}

// JournalHead is the journal's row: seq_nr and delete_to as of now (Layout is the row's
// incarnation), the zero head without a row.
func (e *Eventual) JournalHead(ctx context.Context, key journal.Key) (journal.EventualHead, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.journals[key]; st != nil {
		return journal.EventualHead{SeqNr: st.seqNr, DeleteTo: st.deleteTo, Layout: st}, nil
	}
	return journal.EventualHead{}, nil
}

// Offset is pointer2.
func (e *Eventual) Offset(ctx context.Context, topic string, partition int32) (int64, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.pointer2[topicPartition{topic, partition}]
	return o, ok, nil
}

// ReadHead yields the events stored now with seqNr >= from and above head's delete_to, in seqNr
// order, as Cassandra does: the rows are read live, the head may be older (a cached one). Nothing
// is yielded for the zero head.
func (e *Eventual) ReadHead(ctx context.Context, key journal.Key, head journal.EventualHead, from journal.SeqNr) iter.Seq2[journal.EventRecord, error] {
	e.mu.Lock()
	var events []journal.EventRecord
	if st := e.journals[key]; st != nil && head.Layout != nil {
		for s, ev := range st.events {
			if s >= from && s > head.DeleteTo {
				events = append(events, ev)
			}
		}
	}
	e.mu.Unlock()
	sort.Slice(events, func(i, j int) bool { return events[i].SeqNr < events[j].SeqNr })
	return func(yield func(journal.EventRecord, error) bool) {
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}
