package sidecar

import (
	"context"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// handleSubscribe streams a journal's events from r.From on, then each new one as it is appended,
// while the client has credit. It never ends by itself: the final reply is an error (CANCELLED on the
// client's cancel, SHUTTING_DOWN, JOURNAL_PURGED, a backend error). The deadline covers the sidecar's
// own work (each catch-up's Mark and fetches), not the waits for credit or for new events.
func (c *conn) handleSubscribe(r *protocol.SubscribeRequest, st *stream) protocol.Reply {
	key, perr := c.key(r.ID, r.Journal, r.Topic)
	if perr != nil {
		return perr
	}
	from := journal.MinSeqNr
	if r.From > 0 {
		from = journal.SeqNr(r.From)
	}
	sub, err := c.s.js.Journal(key).Subscribe(from)
	if err != nil {
		return wireError(st.ctx, r.ID, err)
	}
	defer sub.Close()
	return c.serveSubscription(r, st, &sub.Waiting, func(ctx context.Context, n, size int) (int, *protocol.Error, error) {
		events, err := sub.Next(ctx, n, size)
		recs := make([]protocol.EventRecord, 0, len(events))
		for _, e := range events {
			rec, rerr := recordOf(e)
			if rerr != nil {
				err = rerr
				break
			}
			recs = append(recs, rec)
		}
		if len(recs) > 0 {
			if perr := c.sendEvents(r.ID, recs); perr != nil {
				return 0, perr, nil
			}
		}
		return len(recs), nil, err
	})
}

// handleSubscribeAll streams every event of a topic, partition by partition in offset order, each with
// its journal and position. Like handleSubscribe it ends only with an error.
func (c *conn) handleSubscribeAll(r *protocol.SubscribeAllRequest, st *stream) protocol.Reply {
	key, perr := c.key(r.ID, "-", r.Topic) // the journal id is not used: only the topic is checked
	if perr != nil {
		return perr
	}
	start := journal.TopicStart{Latest: r.From == protocol.FromLatest, Offsets: map[int32]int64{}}
	for _, o := range r.Offsets {
		start.Offsets[o.Partition] = o.Offset
	}
	d := c.timeout(r)
	sctx, cancel := context.WithTimeoutCause(st.ctx, d, timeoutError(d))
	sub, err := c.s.js.SubscribeAll(sctx, key.Topic, start)
	cancel()
	if err != nil {
		return wireError(st.ctx, r.ID, err)
	}
	return c.serveSubscription(r, st, &sub.Waiting, func(ctx context.Context, n, size int) (int, *protocol.Error, error) {
		events, err := sub.Next(ctx, n, size)
		recs := make([]protocol.TopicEventRecord, 0, len(events))
		for _, e := range events {
			rec, rerr := recordOf(e.EventRecord)
			if rerr != nil {
				err = rerr
				break
			}
			recs = append(recs, protocol.TopicEventRecord{Journal: e.Key.ID, EventRecord: rec})
		}
		if len(recs) > 0 {
			perr := sendSplit(c, r.ID, recs,
				func(rs []protocol.TopicEventRecord) protocol.Reply {
					return &protocol.SubscribeAllEvents{ID: r.ID, Events: rs}
				},
				func(rec protocol.TopicEventRecord) int64 { return rec.SeqNr })
			if perr != nil {
				return 0, perr, nil
			}
		}
		return len(recs), nil, err
	})
}

// serveSubscription runs a subscription stream: it waits for credit, lets next send at most that many
// events (and about maxBatchBytes), and spends what was sent, until next fails. next returns the events
// sent, an error frame when sending failed, or the subscription's error. The request's deadline runs
// only while the sidecar works: not while the stream waits for credit, nor while *waiting says the
// subscription waits for new events.
func (c *conn) serveSubscription(req protocol.Request, st *stream, waiting *func(bool),
	next func(ctx context.Context, n, size int) (int, *protocol.Error, error)) protocol.Reply {
	c.s.m.streams.Inc()
	defer c.s.m.streams.Dec()
	defer st.cancel(nil)
	stopSoft := context.AfterFunc(c.s.soft, func() { st.cancel(errShuttingDown) })
	defer stopSoft()
	ctx, id := st.ctx, req.RequestID()
	d := c.timeout(req)
	deadline := time.AfterFunc(d, func() { st.cancel(timeoutError(d)) })
	defer deadline.Stop()
	*waiting = func(w bool) {
		if w {
			deadline.Stop()
		} else {
			deadline.Reset(d)
		}
	}
	size := min(maxBatchBytes, c.s.cfg.MaxFrameBytes/2)
	for {
		deadline.Stop()
		credit, err := st.wait()
		if err != nil {
			return wireError(ctx, id, err)
		}
		deadline.Reset(d)
		sent, perr, err := next(ctx, int(min(credit, maxBatchEvents)), size)
		if perr != nil {
			return perr
		}
		if sent > 0 {
			st.spend(sent)
			c.s.m.events.Add(float64(sent))
		}
		if err != nil {
			return wireError(ctx, id, err)
		}
	}
}
