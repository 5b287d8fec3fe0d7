package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
)

// sockClient is the Go socket client of the bench: one Unix-socket connection to a sidecar speaking
// protocol version 1 with the protocol package's codec, multiplexing requests by id (one reader
// goroutine hands each reply to its waiter). It is what an application written from PROTOCOL.md does,
// without a client library's conveniences, so its latency is the sidecar's plus the socket's.
type sockClient struct {
	nc       net.Conn
	wmu      sync.Mutex
	bw       *bufio.Writer
	nextID   atomic.Uint64
	maxFrame int

	mu      sync.Mutex
	waiters map[uint64]*waiter
	err     error         // why the reader stopped
	done    chan struct{} // closed when the reader stops
}

type waiter struct {
	op      protocol.Op
	replies chan protocol.Reply // closed after the final reply
}

// errConnClosed is the error of requests in flight when the connection ends.
var errConnClosed = errors.New("bench: connection closed")

// dialSidecar connects to the socket and says hello.
func dialSidecar(ctx context.Context, path string) (*sockClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &sockClient{nc: nc, bw: bufio.NewWriterSize(nc, 16<<10), maxFrame: protocol.DefaultMaxFrameBytes,
		waiters: map[uint64]*waiter{}, done: make(chan struct{})}
	go c.readLoop()
	rep, err := c.do(ctx, &protocol.HelloRequest{Versions: []uint32{protocol.Version}, Client: "kjournal-bench/0.1.0"})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	if h, ok := rep.(*protocol.HelloReply); ok {
		c.maxFrame = int(h.MaxFrameBytes)
	}
	return c, nil
}

// Close closes the connection; requests in flight fail with errConnClosed.
func (c *sockClient) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

func (c *sockClient) readLoop() {
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
	return 0, errors.New("bench: reply without id")
}

// send writes req with a fresh id and returns the channel of its replies (nil for credit and cancel,
// which get none). buffer is the channel's capacity: 1 for unary requests, more for read streams.
func (c *sockClient) send(req protocol.Request, buffer int) (uint64, <-chan protocol.Reply, error) {
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
	_, err = c.bw.Write(protocol.AppendFrame(nil, body))
	if err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		return 0, nil, err
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

// do sends a unary request and waits for its reply; an error frame is returned as the error.
func (c *sockClient) do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	_, ch, err := c.send(req, 1)
	if err != nil {
		return nil, err
	}
	return await(ctx, ch)
}

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

// appendEvents appends events to journal and returns where Kafka stored them.
func (c *sockClient) appendEvents(ctx context.Context, topic, journalID string, events []protocol.Event) (*protocol.AppendReply, error) {
	rep, err := c.do(ctx, &protocol.AppendRequest{Journal: journalID, Topic: topic, Events: events})
	if err != nil {
		return nil, err
	}
	ar, ok := rep.(*protocol.AppendReply)
	if !ok {
		return nil, fmt.Errorf("append: unexpected reply %T", rep)
	}
	return ar, nil
}

// readResult is what a full read returned.
type readResult struct {
	events  int
	lastSeq int64
	highest int64
}

// readAll reads a whole journal granting credit as events arrive, as the Python client does: credit
// up front, then what was consumed each time half of it was consumed.
func (c *sockClient) readAll(ctx context.Context, topic, journalID string, credit uint32) (readResult, error) {
	var res readResult
	id, ch, err := c.send(&protocol.ReadRequest{Journal: journalID, Topic: topic, Credit: credit}, int(credit)+2)
	if err != nil {
		return res, err
	}
	var unacked uint32
	for {
		rep, err := await(ctx, ch)
		if err != nil {
			if ctx.Err() != nil {
				_, _, _ = c.send(&protocol.CancelRequest{ID: id}, 0)
			}
			return res, err
		}
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			res.events += len(r.Events)
			res.lastSeq = r.Events[len(r.Events)-1].SeqNr
			unacked += uint32(len(r.Events))
			if unacked >= credit/2 {
				if _, _, err := c.send(&protocol.CreditRequest{ID: id, N: unacked}, 0); err != nil {
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

// openRead starts a read stream with credit and returns its id and replies, for a reader that steers
// the credit itself (the stalled reader of P6).
func (c *sockClient) openRead(topic, journalID string, credit uint32, buffer int) (uint64, <-chan protocol.Reply, error) {
	return c.send(&protocol.ReadRequest{Journal: journalID, Topic: topic, Credit: credit}, buffer)
}

func (c *sockClient) ping(ctx context.Context) error {
	_, err := c.do(ctx, &protocol.PingRequest{})
	return err
}
