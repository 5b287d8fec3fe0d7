package sidecar

import (
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// handleAppend starts the append on the calling goroutine (the connection's reader) and calls reply
// with its final reply once Kafka acknowledged it, from the producer's result goroutine: an append in
// flight costs no goroutine, and the appends a connection sends reach the producer in the order they
// arrived. reply must not block. A conditional append (expected_seq_nr) first reads the journal's
// head under its write lock (journal.Journal.AppendIf: a Mark round trip), so it runs on a goroutine of
// its own and is the one append not ordered with the appends the connection sends after it.
//
// An append handed to Kafka is not abandoned when its client goes away (the record would be written
// anyway, and the journal library must see its acknowledgement to release it): its context derives
// from the server's hard stop, not from the connection.
func (c *conn) handleAppend(r *protocol.AppendRequest, reply func(protocol.Reply)) {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		reply(perr)
		return
	}
	events, opts, err := appendOf(r)
	if err != nil {
		reply(protocol.NewError(r.ID, protocol.CodeInvalidArgument, "%v", err))
		return
	}
	ctx, cancel := c.withTimeout(c.s.hard, r)
	id := r.ID
	finish := func(po journal.PartitionOffset, err error) {
		var rep protocol.Reply = &protocol.AppendReply{ID: id, Partition: po.Partition, Offset: po.Offset}
		if err != nil {
			rep = wireError(ctx, id, err) // before cancel, which would hide a TIMEOUT cause
		}
		cancel()
		reply(rep)
	}
	if r.Conditional {
		expected := journal.SeqNr(r.ExpectedSeqNr)
		go func() { finish(c.s.js.Journal(key).AppendIf(ctx, expected, events, opts)) }()
		return
	}
	c.s.js.Journal(key).AppendAsync(ctx, events, opts, finish)
}
