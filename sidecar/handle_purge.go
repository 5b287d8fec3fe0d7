package sidecar

import (
	"github.com/kjournal/kjournal/protocol"
)

// handlePurge writes a Purge: the journal is gone and its next append starts it anew.
func (c *conn) handlePurge(r *protocol.PurgeRequest) protocol.Reply {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	po, err := c.s.js.Journal(key).Purge(ctx)
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	return &protocol.PurgeReply{ID: r.ID, Partition: po.Partition, Offset: po.Offset}
}
