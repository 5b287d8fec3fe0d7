package journal

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"time"
)

// Stream is one read of a journal: the events from a seqNr on, and the journal's highest seqNr as of the
// read's marker. Create it with Journal.Read; iterate Events once.
type Stream struct {
	j    Journal
	h    *head
	from SeqNr
}

// Read starts a read of the events with seqNr >= from. It produces a Mark and learns everything
// unreplicated before it (a Delete or Purge there is honoured) before returning, so the stream never
// emits an event the journal's own history has deleted. Events are then streamed lazily: from
// Cassandra first, then from the unreplicated Kafka tail up to the marker, each seqNr at most once.
func (j Journal) Read(ctx context.Context, from SeqNr) (s *Stream, err error) {
	defer j.js.metrics.observe("read", time.Now(), &err)
	if err := from.Validate(); err != nil {
		return nil, err
	}
	h, err := j.head(ctx)
	if err != nil {
		return nil, err
	}
	return &Stream{j: j, h: h, from: from}, nil
}

// HighestSeqNr is the journal's pointer as of the read's marker (0 when it has none): what an Akka
// recovery calls RecoverySuccess(highestSequenceNr). Deleted events do not lower it.
func (s *Stream) HighestSeqNr() SeqNr { return s.h.highest }

// Marker is the position of the read's marker.
func (s *Stream) Marker() PartitionOffset { return s.h.marker }

// Events yields the events in seqNr order, none above HighestSeqNr, and stops at the first error.
// Breaking out of the loop releases everything the read holds.
func (s *Stream) Events(ctx context.Context) iter.Seq2[EventRecord, error] {
	return func(yield func(EventRecord, error) bool) {
		info := s.h.info
		if info.Kind == HeadPurge || (info.Kind == HeadDelete && info.Purged) {
			return
		}
		next := s.from
		if info.DeleteTo > 0 {
			if info.DeleteTo == MaxSeqNr {
				return
			}
			next = max(next, info.DeleteTo+1)
		}
		highest := s.h.highest
		if next > highest {
			return
		}
		tailFrom := info.Offset
		if info.NeedsEventual() {
			if err := s.j.eventualHead(ctx, s.h); err != nil {
				yield(EventRecord{}, fmt.Errorf("read %s: %w", s.j.key, err))
				return
			}
			for e, err := range s.j.js.eventual.ReadHead(ctx, s.j.key, s.h.row, next) {
				if err != nil {
					yield(EventRecord{}, fmt.Errorf("read %s: %w", s.j.key, err))
					return
				}
				if e.SeqNr < next {
					continue
				}
				if e.SeqNr > highest {
					return
				}
				if !yield(e, nil) {
					return
				}
				if e.SeqNr == highest {
					return
				}
				next = e.SeqNr + 1
				if e.Partition == s.h.marker.Partition && e.Offset >= tailFrom {
					tailFrom = e.Offset + 1
				}
			}
		}
		if info.Kind != HeadAppend {
			return
		}
		s.tail(ctx, tailFrom, next, highest, yield)
	}
}

// tail streams the unreplicated Appends at offsets [from, marker) with events >= next.
func (s *Stream) tail(ctx context.Context, from int64, next, highest SeqNr, yield func(EventRecord, error) bool) {
	stop := false
	emit := func(r *ActionRecord) error {
		a, ok := r.Header.(*AppendHeader)
		if !ok || r.Offset < from || a.Range.To < next {
			return nil
		}
		events, md, err := DecodeEvents(r.Value, a.PayloadType)
		if err != nil {
			return fmt.Errorf("%w: %s at %d:%d: %v", ErrDataIntegrity, s.j.key, r.Partition, r.Offset, err)
		}
		for _, e := range events {
			if e.SeqNr < next {
				continue // already emitted: Cassandra overlap or a duplicated Kafka record
			}
			if e.SeqNr > highest {
				// Only out-of-order appends (concurrent appends to one journal, which callers must
				// not do) put an event above the newest Append's last seqNr; skip it, keep going.
				continue
			}
			if !yield(eventRecord(r, a, e, md), nil) || e.SeqNr == highest {
				stop = true
				return nil
			}
			next = e.SeqNr + 1
		}
		return nil
	}
	if s.h.tailSet {
		for _, r := range s.h.tail {
			if err := emit(r); err != nil {
				yield(EventRecord{}, err)
				return
			}
			if stop {
				return
			}
		}
		return
	}
	// The scan goes in chunks: each takes a pooled consumer, copies at most tailChunk Appends of the
	// journal and gives the consumer back before any is emitted, so a stalled reader (yield blocking)
	// keeps its position and tailChunk records, not a consumer or a fetched batch. No marker deadline
	// here: the head fold already reached the marker, so the scan ends.
	limit := s.h.marker.Offset - 1
	chunk := make([]ActionRecord, 0, tailChunk)
	for from <= limit {
		chunk = chunk[:0]
		resume := limit + 1
		err := s.j.js.log.Scan(ctx, s.j.key.Topic, s.h.marker.Partition, from, limit, s.j.key.ID, func(r ActionRecord) error {
			if a, ok := r.Header.(*AppendHeader); !ok || a.Range.To < next {
				return nil // nothing to emit: a Mark, a Delete (folded already), or events already emitted
			}
			r.Value = bytes.Clone(r.Value) // the value may alias the whole fetched batch
			chunk = append(chunk, r)
			if len(chunk) == tailChunk {
				resume = r.Offset + 1
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			yield(EventRecord{}, fmt.Errorf("read %s: %w", s.j.key, err))
			return
		}
		for i := range chunk {
			if err := emit(&chunk[i]); err != nil {
				yield(EventRecord{}, err)
				return
			}
			if stop {
				return
			}
		}
		from = resume
	}
}

// eventRecord is event e of the Append r (with header a and payload metadata md) as read back.
func eventRecord(r *ActionRecord, a *AppendHeader, e Event, md PayloadMetadata) EventRecord {
	return EventRecord{
		Event:           e,
		Timestamp:       r.Timestamp,
		PartitionOffset: r.PartitionOffset,
		Origin:          a.Origin,
		Version:         a.Version,
		Metadata:        RecordMetadata{Header: a.Metadata, Payload: md},
		Headers:         r.Headers,
	}
}

// tailChunk is how many Appends of the journal one scan of a read's tail copies before it gives its
// consumer back and emits them.
const tailChunk = 16

type stopScan struct{}

func (stopScan) Error() string { return "stop scan" }

var errStopScan error = stopScan{}
