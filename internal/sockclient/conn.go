// Package sockclient is a minimal Go client connection to the kjournal sidecar, written from
// protocol/PROTOCOL.md on top of package protocol: one Unix-socket connection multiplexing requests by
// id (one reader goroutine hands each reply to its waiter). The bench and the fault tests use it; it
// has none of a client library's conveniences (no reconnect, no credit management), so what it
// measures is the sidecar and the socket.
package sockclient

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

// ErrClosed is the error of requests in flight, or sent, when the connection has ended.
var ErrClosed = errors.New("sockclient: connection closed")

// Conn is one connection to the sidecar; its methods are safe for concurrent use.
type Conn struct {
	nc       net.Conn
	wmu      sync.Mutex
	bw       *bufio.Writer
	nextID   atomic.Uint64
	maxFrame int

	mu      sync.Mutex
	waiters map[uint64]*waiter
	err     error
	done    chan struct{}
}

type waiter struct {
	op      protocol.Op
	replies chan protocol.Reply
}

// Dial connects to the socket at path and says hello as client.
func Dial(ctx context.Context, path, client string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, bw: bufio.NewWriterSize(nc, 16<<10), maxFrame: protocol.DefaultMaxFrameBytes,
		waiters: map[uint64]*waiter{}, done: make(chan struct{})}
	go c.readLoop()
	rep, err := c.Do(ctx, &protocol.HelloRequest{Versions: []uint32{protocol.Version}, Client: client})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	if h, ok := rep.(*protocol.HelloReply); ok {
		c.maxFrame = int(h.MaxFrameBytes)
	}
	return c, nil
}

// Close closes the connection; requests in flight fail with ErrClosed.
func (c *Conn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

func (c *Conn) readLoop() {
	defer close(c.done)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var err error
	for {
		var body []byte
		body, err = protocol.ReadFrame(br, max(c.maxFrame, protocol.DefaultMaxFrameBytes))
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
		if w == nil { // id 0 (a connection error) or a stream we gave up on
			continue
		}
		var rep protocol.Reply
		rep, err = protocol.DecodeReply(body, w.op)
		if err != nil {
			break
		}
		more := false
		switch rep.(type) {
		case *protocol.ReadEvents, *protocol.SubscribeAllEvents:
			more = true
		}
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

// peekID returns a reply body's id without decoding the rest: the canonical encoding writes it first.
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
	return 0, errors.New("sockclient: reply without id")
}

// Send writes req with a fresh id and returns the channel of its replies (nil for credit and cancel,
// which get none). buffer is the channel's capacity: 1 for unary requests, more for read streams.
func (c *Conn) Send(req protocol.Request, buffer int) (uint64, <-chan protocol.Reply, error) {
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
		if c.err != nil || c.Closed() {
			c.mu.Unlock()
			return 0, nil, ErrClosed
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
		return 0, nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return id, ch, nil
}

// Closed reports whether the connection has ended.
func (c *Conn) Closed() bool {
	select {
	case <-c.done:
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
	case *protocol.SaveSnapshotRequest:
		r.ID = id
	case *protocol.LoadSnapshotRequest:
		r.ID = id
	case *protocol.DeleteSnapshotsRequest:
		r.ID = id
	case *protocol.SubscribeRequest:
		r.ID = id
	case *protocol.SubscribeAllRequest:
		r.ID = id
	}
}

// Do sends a unary request and waits for its reply; an error frame is returned as the error.
func (c *Conn) Do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	_, ch, err := c.Send(req, 1)
	if err != nil {
		return nil, err
	}
	return Await(ctx, ch)
}

// Await returns the next reply from ch; an error frame is returned as a *protocol.Error.
func Await(ctx context.Context, ch <-chan protocol.Reply) (protocol.Reply, error) {
	select {
	case rep, ok := <-ch:
		if !ok {
			return nil, ErrClosed
		}
		if e, isErr := rep.(*protocol.Error); isErr {
			return nil, e
		}
		return rep, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
