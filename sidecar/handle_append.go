package sidecar

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// handleAppend starts the append on the calling goroutine (the connection's reader); p sends its
// final reply once Kafka acknowledged it, from the producer's result goroutine: an append in flight
// costs no goroutine, and the appends a connection sends reach the producer in the order they
// arrived. A conditional append (expected_seq_nr) first reads the journal's head under its write
// lock (journal.Journal.AppendIf: a Mark round trip), so it runs on a goroutine of its own and is the
// one append not ordered with the appends the connection sends after it.
//
// An append handed to Kafka is not abandoned when its client goes away (the record would be written
// anyway, and the journal library must see its acknowledgement to release it): its context derives
// from the server's hard stop, not from the connection.
func (c *conn) handleAppend(r *protocol.AppendRequest, p *pendingAppend) {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		p.reply(perr)
		return
	}
	events, opts, err := appendOf(r, p.events[:0])
	if err != nil {
		p.reply(protocol.NewError(r.ID, protocol.CodeInvalidArgument, "%v", err))
		return
	}
	p.deadline = c.appendDeadline(c.timeout(r), p.arrived)
	p.ctx = p.deadline.ctx
	if r.Conditional {
		expected := journal.SeqNr(r.ExpectedSeqNr)
		events = ownEvents(events) // the request's binary payloads alias the frame (ReuseAppends)
		go func() { p.done(c.s.js.Journal(key).AppendIf(p.ctx, expected, events, opts)) }()
		return
	}
	c.s.js.Journal(key).AppendAsync(p.ctx, events, opts, p.done)
}

// ownEvents copies events and their payloads, for an append that outlives the frame it was read from.
func ownEvents(events []journal.Event) []journal.Event {
	own := make([]journal.Event, len(events))
	for i, e := range events {
		e.Payload.Data = bytes.Clone(e.Payload.Data)
		own[i] = e
	}
	return own
}

// pendingAppend is an append from its start to its final reply: what the reply needs, in one
// allocation (it was three closures, the reply and a flag).
type pendingAppend struct {
	c        *conn
	id       uint64
	arrived  time.Time
	ctx      context.Context // deadline.ctx
	deadline *sharedDeadline
	replied  atomic.Bool
	ok       protocol.AppendReply // the reply to a written append
	events   [1]journal.Event     // the events of a one-event append (most), without a slice of their own
}

// done is the journal's callback with the append's result. It must not block.
func (p *pendingAppend) done(po journal.PartitionOffset, err error) {
	var rep protocol.Reply
	if err != nil {
		rep = wireError(p.ctx, p.id, err) // before release, which may cancel ctx and hide a TIMEOUT cause
	} else {
		p.ok = protocol.AppendReply{ID: p.id, Partition: po.Partition, Offset: po.Offset}
		rep = &p.ok
	}
	p.deadline.release()
	p.reply(rep)
}

// deadlineSlack is how long a connection's appends share one deadline context: an append's deadline
// passes between timeout_ms - deadlineSlack and timeout_ms after its arrival. A context with a
// deadline per append (a timer, three allocations, and a child in the server's context, all under
// its lock) was about 7% of the sidecar's CPU per append (BenchmarkSidecar_Appends). Early rather
// than late: a deadline no further than journal/kafka's ProduceTimeout (both 30s by default) spares
// the producer a timer of its own per record.
const deadlineSlack = 5 * time.Millisecond

// sharedDeadline is the context of the appends a connection reads within deadlineSlack of each
// other with the same timeout. It derives from the server's hard stop, and is cancelled (its timer
// stopped) once it is no longer the connection's current one and its last append has its result.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	d      time.Duration
	until  time.Time    // appends arriving before until share it
	refs   atomic.Int64 // appends holding it, plus one while it is the connection's current one
}

// appendDeadline returns the shared deadline of an append with timeout d arriving at arrived,
// holding it once for the append (release it with the result). Only the reader goroutine calls it.
func (c *conn) appendDeadline(d time.Duration, arrived time.Time) *sharedDeadline {
	sd := c.deadline
	if sd == nil || sd.d != d || !arrived.Before(sd.until) {
		if sd != nil {
			sd.release() // no longer current
		}
		sd = &sharedDeadline{d: d, until: arrived.Add(deadlineSlack)}
		// The deadline of the first append it takes: never after any of theirs.
		sd.ctx, sd.cancel = context.WithDeadlineCause(c.s.hard, arrived.Add(d), timeoutError(d))
		sd.refs.Store(1)
		c.deadline = sd
	}
	sd.refs.Add(1)
	return sd
}

// release drops one hold; the last cancels the context.
func (sd *sharedDeadline) release() {
	if sd.refs.Add(-1) == 0 {
		sd.cancel()
	}
}

// reply ends the append with its final reply rep; only the first call counts.
func (p *pendingAppend) reply(rep protocol.Reply) {
	if !p.replied.CompareAndSwap(false, true) {
		return
	}
	c := p.c
	c.finishID(p.id, protocol.OpAppend, p.arrived, rep)
	c.sendAsync(rep)
	c.s.m.inFlight.Dec()
	c.reqs.Done()
	c.s.reqs.Done()
}
