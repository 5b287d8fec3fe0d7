package faults_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kjournal/kjournal/internal/sockclient"
	"github.com/kjournal/kjournal/protocol"
)

// client is a minimal Go client of the sidecar written from PROTOCOL.md on top of package protocol:
// one sockclient.Conn multiplexing requests by id. Like the bundled clients
// it reconnects on its next call once its connection failed.
type client struct {
	socket string
	mu     sync.Mutex
	conn   *sockclient.Conn
}

func newClient(socket string) *client { return &client{socket: socket} }

func (c *client) get(ctx context.Context) (*sockclient.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && !c.conn.Closed() {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	sc, err := sockclient.Dial(ctx, c.socket, "kjournal-faults/0.1.0")
	if err != nil {
		return nil, err
	}
	c.conn = sc
	return sc, nil
}

func (c *client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *client) do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	sc, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return sc.Do(ctx, req)
}

func (c *client) append(ctx context.Context, topic, id string, timeoutMs uint32, seqNrs ...int64) (*protocol.AppendReply, error) {
	events := make([]protocol.Event, len(seqNrs))
	for i, s := range seqNrs {
		events[i] = protocol.Event{SeqNr: s, PayloadType: protocol.PayloadJSON, Payload: map[string]any{"id": id, "n": s}}
	}
	rep, err := c.do(ctx, &protocol.AppendRequest{Journal: id, Topic: topic, Events: events, TimeoutMs: timeoutMs})
	if err != nil {
		return nil, err
	}
	return rep.(*protocol.AppendReply), nil
}

func (c *client) delete(ctx context.Context, topic, id string, to int64) error {
	_, err := c.do(ctx, &protocol.DeleteRequest{Journal: id, Topic: topic, To: to})
	return err
}

func (c *client) purge(ctx context.Context, topic, id string) error {
	_, err := c.do(ctx, &protocol.PurgeRequest{Journal: id, Topic: topic})
	return err
}

func (c *client) pointer(ctx context.Context, topic, id string, timeoutMs uint32) (int64, error) {
	rep, err := c.do(ctx, &protocol.PointerRequest{Journal: id, Topic: topic, TimeoutMs: timeoutMs})
	if err != nil {
		return 0, err
	}
	return rep.(*protocol.PointerReply).SeqNr, nil
}

// readResult is a whole read: the seqNrs in the order received, and the end frame's highest seq_nr.
type readResult struct {
	seqNrs  []int64
	ok      bool // every payload was {"id": journal, "n": seqNr}
	highest int64
}

func (c *client) read(ctx context.Context, topic, id string, timeoutMs uint32) (readResult, error) {
	res := readResult{ok: true}
	sc, err := c.get(ctx)
	if err != nil {
		return res, err
	}
	const credit = 1000
	rid, ch, err := sc.Send(&protocol.ReadRequest{Journal: id, Topic: topic, Credit: credit, TimeoutMs: timeoutMs}, credit+2)
	if err != nil {
		return res, err
	}
	var unacked uint32
	for {
		rep, err := sockclient.Await(ctx, ch)
		if err != nil {
			return res, err
		}
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			for _, e := range r.Events {
				res.seqNrs = append(res.seqNrs, e.SeqNr)
				p, _ := e.Payload.(map[string]any)
				if p == nil || p["id"] != id || fmt.Sprint(p["n"]) != fmt.Sprint(e.SeqNr) {
					res.ok = false
				}
			}
			unacked += uint32(len(r.Events))
			if unacked >= credit/2 {
				if _, _, err := sc.Send(&protocol.CreditRequest{ID: rid, N: unacked}, 0); err != nil {
					return res, err
				}
				unacked = 0
			}
		case *protocol.ReadEnd:
			res.highest = r.HighestSeqNr
			return res, nil
		default:
			return res, fmt.Errorf("read: unexpected reply %T", rep)
		}
	}
}

// codeOf returns the wire code of err, or -1 when err is not a coded error.
func codeOf(err error) protocol.Code {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}

// retryable reports whether err is a coded error with retryable set.
func retryable(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Retryable
}
