package sidecar

import (
	"github.com/kjournal/kjournal/protocol"
)

// handlePointer answers the journal's last seq_nr (nil when it has none); it costs a Mark.
func (c *conn) handlePointer(r *protocol.PointerRequest) protocol.Reply {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	ctx, cancel := c.withTimeout(c.ctx, r)
	defer cancel()
	seqNr, ok, err := c.s.js.Journal(key).Pointer(ctx)
	if err != nil {
		return wireError(ctx, r.ID, err)
	}
	rep := &protocol.PointerReply{ID: r.ID}
	if ok {
		rep.SeqNr = int64(seqNr)
	}
	return rep
}
