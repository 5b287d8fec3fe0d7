package sidecar

import (
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// handleDelete deletes the events up to r.To, clamped to the journal's last seq_nr; the reply has no
// position when the journal had no events and nothing was written.
func (c *conn) handleDelete(r *protocol.DeleteRequest) protocol.Reply {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	po, ok, err := c.s.js.Journal(key).Delete(ctx, journal.SeqNr(r.To))
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	return &protocol.DeleteReply{ID: r.ID, Partition: po.Partition, Offset: po.Offset, Deleted: ok}
}
