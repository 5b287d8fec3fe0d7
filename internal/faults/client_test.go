package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
)

// client is a minimal Go client of the sidecar written from PROTOCOL.md on top of package protocol:
// one connection multiplexing requests by id (adapted from internal/bench). Like the bundled clients
// it reconnects on its next call once its connection failed.
type client struct {
	socket string
	mu     sync.Mutex
	conn   *sockConn
}

func newClient(socket string) *client { return &client{socket: socket} }

// errConnClosed is the error of requests in flight when the connection ends.
var errConnClosed = errors.New("faults: connection closed")

func (c *client) get(ctx context.Context) (*sockConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && !isClosed(c.conn.done) {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	sc, err := dial(ctx, c.socket)
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
	return sc.do(ctx, req)
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
	rid, ch, err := sc.send(&protocol.ReadRequest{Journal: id, Topic: topic, Credit: credit, TimeoutMs: timeoutMs}, credit+2)
	if err != nil {
		return res, err
	}
	var unacked uint32
	for {
		rep, err := await(ctx, ch)
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
				if _, _, err := sc.send(&protocol.CreditRequest{ID: rid, N: unacked}, 0); err != nil {
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

// sockConn is one connection.
type sockConn struct {
	nc     net.Conn
	wmu    sync.Mutex
	bw     *bufio.Writer
	nextID atomic.Uint64

	mu      sync.Mutex
	waiters map[uint64]*waiter
	err     error
	done    chan struct{}
}

type waiter struct {
	op      protocol.Op
	replies chan protocol.Reply
}

func dial(ctx context.Context, path string) (*sockConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &sockConn{nc: nc, bw: bufio.NewWriterSize(nc, 16<<10), waiters: map[uint64]*waiter{}, done: make(chan struct{})}
	go c.readLoop()
	if _, err := c.do(ctx, &protocol.HelloRequest{Versions: []uint32{protocol.Version}, Client: "kjournal-faults/0.1.0"}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	return c, nil
}

func (c *sockConn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

func (c *sockConn) readLoop() {
	defer close(c.done)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var err error
	for {
		var body []byte
		body, err = protocol.ReadFrame(br, protocol.DefaultMaxFrameBytes)
		if err != nil {
			break
		}
		var id uint64
		id, err = peekID(body)
		if err != nil {
			break
		}
		c.mu.Lock()
		w := c.waiters[id]
		c.mu.Unlock()
		if w == nil {
			continue
		}
		var rep protocol.Reply
		rep, err = protocol.DecodeReply(body, w.op)
		if err != nil {
			break
		}
		_, more := rep.(*protocol.ReadEvents)
		if !more {
			c.mu.Lock()
			delete(c.waiters, id)
			c.mu.Unlock()
		}
		w.replies <- rep
		if !more {
			close(w.replies)
		}
	}
	_ = c.nc.Close()
	c.mu.Lock()
	c.err = err
	for id, w := range c.waiters {
		close(w.replies)
		delete(c.waiters, id)
	}
	c.mu.Unlock()
}

func peekID(body []byte) (uint64, error) {
	d := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := d.DecodeMapLen()
	if err != nil {
		return 0, err
	}
	for range n {
		k, err := d.DecodeString()
		if err != nil {
			return 0, err
		}
		if k == "id" {
			return d.DecodeUint64()
		}
		if err := d.Skip(); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("faults: reply without id")
}

func (c *sockConn) send(req protocol.Request, buffer int) (uint64, <-chan protocol.Reply, error) {
	var id uint64
	var ch chan protocol.Reply
	switch r := req.(type) {
	case *protocol.CreditRequest:
		id = r.ID
	case *protocol.CancelRequest:
		id = r.ID
	default:
		id = c.nextID.Add(1)
		setID(req, id)
		ch = make(chan protocol.Reply, buffer)
		c.mu.Lock()
		if c.err != nil || isClosed(c.done) {
			c.mu.Unlock()
			return 0, nil, errConnClosed
		}
		c.waiters[id] = &waiter{op: req.Op(), replies: ch}
		c.mu.Unlock()
	}
	body, err := protocol.EncodeRequest(req)
	if err != nil {
		return 0, nil, err
	}
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.bw.Write(protocol.AppendFrame(nil, body))
	if err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		_ = c.nc.Close()
		return 0, nil, fmt.Errorf("%w: %w", errConnClosed, err)
	}
	return id, ch, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func setID(req protocol.Request, id uint64) {
	switch r := req.(type) {
	case *protocol.HelloRequest:
		r.ID = id
	case *protocol.AppendRequest:
		r.ID = id
	case *protocol.ReadRequest:
		r.ID = id
	case *protocol.PointerRequest:
		r.ID = id
	case *protocol.DeleteRequest:
		r.ID = id
	case *protocol.PurgeRequest:
		r.ID = id
	case *protocol.PingRequest:
		r.ID = id
	}
}

func (c *sockConn) do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	_, ch, err := c.send(req, 1)
	if err != nil {
		return nil, err
	}
	return await(ctx, ch)
}

// await returns the next reply; an error frame is returned as a *protocol.Error.
func await(ctx context.Context, ch <-chan protocol.Reply) (protocol.Reply, error) {
	select {
	case rep, ok := <-ch:
		if !ok {
			return nil, errConnClosed
		}
		if e, isErr := rep.(*protocol.Error); isErr {
			return nil, e
		}
		return rep, nil
	case <-ctx.Done():
		return nil, ctx.Err()
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
