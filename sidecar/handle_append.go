package sidecar

import (
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// handleAppend appends the events and answers once Kafka acknowledged them; with expected_seq_nr,
// only if the journal's highest seq_nr is that (journal.Journal.AppendIf).
//
// An append handed to Kafka is not abandoned when its client goes away (the record would be written
// anyway, and the journal library must see its acknowledgement to release it): its context derives
// from the server's hard stop, not from the connection.
func (c *conn) handleAppend(r *protocol.AppendRequest) protocol.Reply {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	events, opts, err := appendOf(r)
	if err != nil {
		return protocol.NewError(r.ID, protocol.CodeInvalidArgument, "%v", err)
	}
	ctx, cancel := c.withTimeout(c.s.hard, r)
	defer cancel()
	var po journal.PartitionOffset
	if r.Conditional {
		po, err = c.s.js.Journal(key).AppendIf(ctx, journal.SeqNr(r.ExpectedSeqNr), events, opts)
	} else {
		po, err = c.s.js.Journal(key).Append(ctx, events, opts)
	}
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	return &protocol.AppendReply{ID: r.ID, Partition: po.Partition, Offset: po.Offset}
}
