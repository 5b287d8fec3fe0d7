package sidecar

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

const (
	// maxBatchEvents bounds the events of one frame, and so how far a stream reads ahead of what it
	// sends, whatever the credit.
	maxBatchEvents = 1000
	// maxBatchBytes is the estimated size at which a frame is cut (and at most half of
	// max_frame_bytes), so that one stream's frames leave room on the connection for the others.
	maxBatchBytes = 1 << 20
)

// stream is the flow-control state of an open read: the credit the client granted and not yet used.
type stream struct {
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	credit int64
	wake   chan struct{} // signalled when credit arrives
}

func newStream(parent context.Context, credit int64) *stream {
	st := &stream{credit: credit, wake: make(chan struct{}, 1)}
	st.ctx, st.cancel = context.WithCancelCause(parent)
	return st
}

// grant adds n to the credit (saturating at MaxCredit) and wakes the stream.
func (st *stream) grant(n int64) {
	st.mu.Lock()
	st.credit = min(st.credit+n, protocol.MaxCredit)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// wait returns the credit once it is positive, or the context's error.
func (st *stream) wait() (int64, error) {
	for {
		st.mu.Lock()
		n := st.credit
		st.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		select {
		case <-st.wake:
		case <-st.ctx.Done():
			return 0, st.ctx.Err()
		}
	}
}

func (st *stream) spend(n int) {
	st.mu.Lock()
	st.credit -= int64(n)
	st.mu.Unlock()
}

// handleRead streams the events of r's range, pulling them from the journal only while the client
// has credit, and returns the final frame: the end frame with the highest seq_nr, or an error.
//
// The stream ends with CANCELLED on the client's cancel, SHUTTING_DOWN as soon as shutdown begins,
// and TIMEOUT when the sidecar's own work (Mark, head, a fetch) exceeds the deadline; time spent
// waiting for credit does not count.
func (c *conn) handleRead(r *protocol.ReadRequest, st *stream) protocol.Reply {
	c.s.m.streams.Inc()
	defer c.s.m.streams.Dec()
	defer st.cancel(nil)
	stopSoft := context.AfterFunc(c.s.soft, func() { st.cancel(errShuttingDown) })
	defer stopSoft()
	ctx := st.ctx

	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	from, to := journal.MinSeqNr, journal.MaxSeqNr
	if r.From > 0 {
		from = journal.SeqNr(r.From)
	}
	if r.To > 0 {
		to = journal.SeqNr(r.To)
	}
	d := c.timeout(r)
	deadline := time.AfterFunc(d, func() { st.cancel(timeoutError(d)) })
	defer deadline.Stop()

	s, err := c.s.js.Journal(key).Read(ctx, from)
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	highest := s.HighestSeqNr()
	end := &protocol.ReadEnd{ID: r.ID, End: true, HighestSeqNr: int64(highest)}
	last := min(to, highest) // the stream is complete once this seq_nr was sent
	if from > last {
		return end
	}
	next, stop := iter.Pull2(s.Events(ctx))
	defer stop()
	var sent int64
	for {
		// Waiting for credit is the client's time, not the sidecar's: the deadline pauses.
		deadline.Stop()
		credit, err := st.wait()
		if err != nil {
			return wireError(ctx, r.ID, err)
		}
		deadline.Reset(d)
		n := min(credit, maxBatchEvents)
		if r.Max > 0 {
			n = min(n, r.Max-sent)
		}
		// At most last-from+1-sent events are left (seqNrs may skip, never repeat): a recovery of a short
		// journal with a large credit does not allocate the whole credit's batch.
		batch := make([]protocol.EventRecord, 0, max(1, min(n, int64(last-from)+1-sent)))
		size, done := 0, false
		var failure error
		for int64(len(batch)) < n && size < min(maxBatchBytes, c.s.cfg.MaxFrameBytes/2) {
			e, err, ok := next()
			if !ok {
				done = true
				break
			}
			if err != nil {
				failure = err
				break
			}
			if e.SeqNr > to {
				done = true
				break
			}
			rec, err := recordOf(e)
			if err != nil {
				failure = err
				break
			}
			batch = append(batch, rec)
			size += recordSize(e)
			if e.SeqNr >= last || (r.Max > 0 && sent+int64(len(batch)) >= r.Max) {
				done = true
				break
			}
		}
		if len(batch) > 0 {
			if perr := c.sendEvents(r.ID, batch); perr != nil {
				return perr
			}
			st.spend(len(batch))
			sent += int64(len(batch))
			c.s.m.events.Add(float64(len(batch)))
		}
		if failure != nil {
			return wireError(ctx, r.ID, failure)
		}
		if done {
			return end
		}
	}
}

// sendEvents sends records as one events frame, or several when the frame would exceed
// max_frame_bytes.
func (c *conn) sendEvents(id uint64, recs []protocol.EventRecord) *protocol.Error {
	return sendSplit(c, id, recs, func(rs []protocol.EventRecord) protocol.Reply { return &protocol.ReadEvents{ID: id, Events: rs} },
		func(r protocol.EventRecord) int64 { return r.SeqNr })
}

// sendSplit sends recs as the frame frame(recs), or as several frames of halves when it would exceed
// max_frame_bytes; seqNr names a record in errors.
func sendSplit[T any](c *conn, id uint64, recs []T, frame func([]T) protocol.Reply, seqNr func(T) int64) *protocol.Error {
	body, err := protocol.EncodeReply(frame(recs))
	if err != nil {
		return protocol.NewError(id, protocol.CodeInternal, "cannot encode events %d..%d: %v", seqNr(recs[0]), seqNr(recs[len(recs)-1]), err)
	}
	if len(body) > c.s.cfg.MaxFrameBytes {
		if len(recs) == 1 {
			return protocol.NewError(id, protocol.CodeInternal, "event %d takes %d bytes, more than max_frame_bytes %d", seqNr(recs[0]), len(body), c.s.cfg.MaxFrameBytes)
		}
		half := len(recs) / 2
		if perr := sendSplit(c, id, recs[:half], frame, seqNr); perr != nil {
			return perr
		}
		return sendSplit(c, id, recs[half:], frame, seqNr)
	}
	if !c.sendBody(body) {
		return protocol.NewError(id, protocol.CodeInternal, "connection closed")
	}
	return nil
}
