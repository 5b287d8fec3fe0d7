package sidecar

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

const (
	// ioBufferSize is the size of each connection's buffered reader.
	ioBufferSize = 64 << 10
	// maxPending bounds the bytes of frames queued behind the one write in progress: a sender waits
	// while more are queued (a client that does not read pushes back on the requests answering it).
	// One frame is always accepted, whatever its size.
	maxPending = 64 << 10
	// slabSize is the size of the chunks that hold the queued frames' length prefixes and the small
	// frames themselves (maxCopy bytes of body at most), packed one after the other: the replies
	// queued while a write is in progress go out as one contiguous buffer, and a reply costs no
	// allocation of its own. Larger bodies are queued as they are, without a copy.
	slabSize  = 8 << 10
	firstSlab = 512
	maxCopy   = 2 << 10
)

// encodeBufs are the buffers replies are encoded into before they are queued (copied into the slab,
// or, when larger than maxCopy, kept by the queue: then the buffer does not go back).
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// conn is one client connection: a reader goroutine (serve), which also starts appends (their replies
// come from the producer's result goroutine), and one goroutine per other request in flight (run).
// There is no writer goroutine: a goroutine with a frame to send queues it, and writes the queue
// itself (one write for all the frames queued: they are packed in a slab, see slabSize) unless
// another one is writing already, which then writes it next. Replies sent while a write is in
// progress are so coalesced into the next write, and a lone reply costs no hand-off to another
// goroutine. Append replies are the exception: the
// producer's result goroutine must never wait for one client, so it only queues them and, when
// nobody is writing, starts a goroutine that writes the queue (sendAsync).
type conn struct {
	s      *Server
	nc     net.Conn
	logger hclog.Logger

	// ctx ends when the client goes away or the server's grace is over; requests other than appends
	// derive from it.
	ctx    context.Context
	cancel context.CancelCauseFunc

	wmu        sync.Mutex
	wcond      sync.Cond     // on wmu: a write ended or the socket closed
	queue      net.Buffers   // what to write, in order: runs of frames in slabs, and large bodies
	slab       []byte        // the slab frames are appended to (see slabSize)
	slabRun    int           // the index in queue of the run of slab that ends at len(slab), or -1
	spare      net.Buffers   // the last written queue, for reuse
	spareSlab  []byte        // the last written slab, for reuse
	queued     int           // bytes in queue
	writing    bool          // a goroutine is writing (and writes what is queued next)
	closing    bool          // closeWith: close the socket once the queue is written
	dead       bool          // the socket is closed: sends are dropped
	writerDone chan struct{} // closed when the socket is closed
	closeOnce  sync.Once

	// Touched only by the reader goroutine:
	helloDone bool
	dec       protocol.RequestDecoder
	deadline  *sharedDeadline // the current deadline of appends (appendDeadline)

	mu       sync.Mutex
	inflight map[uint64]*inflight
	reqs     sync.WaitGroup
}

// inflight is a request between its arrival and its final reply.
type inflight struct {
	op     protocol.Op
	stream *stream // for reads and subscriptions
}

// appendInFlight stands for every append in inflight: an append has nothing of its own there.
var appendInFlight = &inflight{op: protocol.OpAppend}

func newConn(s *Server, nc net.Conn, n uint64) *conn {
	c := &conn{
		s:          s,
		nc:         nc,
		logger:     s.logger.With("conn", n),
		writerDone: make(chan struct{}),
		inflight:   map[uint64]*inflight{},
		slabRun:    -1,
	}
	c.wcond.L = &c.wmu
	// An append is done with its request when AppendAsync returns (a conditional one copies what it
	// keeps: ownEvents), so the reader decodes appends into one reused request, without copying the
	// payloads out of the frame.
	c.dec.ReuseAppends = true
	c.ctx, c.cancel = context.WithCancelCause(s.hard)
	return c
}

// serve runs the connection until the client goes away or the server closes it.
func (c *conn) serve() {
	defer func() {
		c.cancel(errConnClosed)
		c.closeWith(nil)
		<-c.writerDone
		if c.deadline != nil {
			c.deadline.release() // no longer current: cancelled once the appends holding it end
		}
		c.reqs.Wait() // appends run to their end even without a client to tell
		c.logger.Debug("connection closed")
	}()
	if len(c.s.cfg.AllowedUIDs) > 0 {
		uid, err := peerUID(c.nc)
		if err != nil || !contains(c.s.cfg.AllowedUIDs, uid) {
			c.s.m.rejected.WithLabelValues("peer_uid").Inc()
			c.logger.Warn("peer refused", "uid", uid, "error", err)
			c.closeWith(protocol.NewError(0, protocol.CodePermissionDenied, "peer uid %d is not allowed to use this sidecar", uid))
			return
		}
	}
	c.s.m.accepted.Inc()
	c.logger.Debug("connection accepted")
	c.readLoop()
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, ioBufferSize)
	// Each body is decoded before the next frame is read, and the decoded request copies what it
	// keeps: frames up to 4 KiB (every append of a few events) are read into one buffer.
	buf := make([]byte, 0, 4<<10)
	for {
		body, err := protocol.ReadFrameInto(br, c.s.cfg.MaxFrameBytes, buf)
		if err != nil {
			var pe *protocol.Error
			if errors.As(err, &pe) { // FRAME_TOO_LARGE: the byte stream cannot be resynchronised
				c.s.m.frameErrors.WithLabelValues(codeLabel(pe)).Inc()
				c.logger.Debug("frame too large; closing", "error", err)
				c.closeWith(pe)
			}
			return
		}
		if !c.dispatch(body) {
			return
		}
	}
}

// send queues a reply; it returns false when the connection is gone (the reply is dropped).
func (c *conn) send(rep protocol.Reply) bool {
	bp := encodeBufs.Get().(*[]byte)
	body, ok := c.encode((*bp)[:0], rep)
	ok = ok && c.sendBody(body)
	putEncodeBuf(bp, body)
	return ok
}

// encode appends the frame body of rep to dst, or of an INTERNAL error when rep cannot be encoded.
func (c *conn) encode(dst []byte, rep protocol.Reply) ([]byte, bool) {
	body, err := protocol.AppendReplyBody(dst, rep)
	if err != nil {
		c.logger.Error("cannot encode a reply", "id", rep.ReplyID(), "error", err)
		body, err = protocol.AppendReplyBody(dst, protocol.NewError(rep.ReplyID(), protocol.CodeInternal, "cannot encode the reply: %v", err))
	}
	return body, err == nil
}

// putEncodeBuf gives bp back to encodeBufs unless the queue kept body, its contents.
func putEncodeBuf(bp *[]byte, body []byte) {
	if len(body) > maxCopy {
		return
	}
	*bp = body[:0]
	encodeBufs.Put(bp)
}

// sendBody queues a frame body and writes the queue unless another goroutine is writing it; it
// returns false when the connection is gone (the frame is dropped).
func (c *conn) sendBody(body []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.waitRoom()
	if c.dead {
		return false
	}
	c.enqueue(body)
	if !c.writing {
		c.writeQueue()
	}
	return true
}

// sendAsync queues a reply without waiting, for the producer's result goroutine: when nobody is
// writing, a new goroutine writes the queue. The queue can so grow past maxPending, by at most the
// replies of the appends in flight: the reader waits for room before it starts another append.
func (c *conn) sendAsync(rep protocol.Reply) {
	bp := encodeBufs.Get().(*[]byte)
	defer func() { putEncodeBuf(bp, *bp) }()
	body, ok := c.encode((*bp)[:0], rep)
	*bp = body
	if !ok {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return
	}
	c.enqueue(body)
	if !c.writing {
		c.writing = true
		go func() {
			c.wmu.Lock()
			defer c.wmu.Unlock()
			c.writeQueue()
		}()
	}
}

// waitRoom waits, with wmu held, while maxPending bytes are queued behind a write in progress (or
// until the socket is closed).
func (c *conn) waitRoom() {
	for !c.dead && c.writing && c.queued >= maxPending {
		c.wcond.Wait()
	}
}

// enqueue appends a frame (its length prefix and body) to the queue: the prefix, and the body when
// it is at most maxCopy bytes, are copied to the end of the slab, extending the queue's last run of
// it; a larger body is queued itself. Called with wmu held.
func (c *conn) enqueue(body []byte) {
	small := len(body) <= maxCopy
	need := protocol.FrameHeaderSize
	if small {
		need += len(body)
	}
	if cap(c.slab)-len(c.slab) < need { // never grown in place: the queue holds slices of it
		// A connection's first slab is small and each next one twice the last, up to slabSize: an
		// idle connection keeps its hello reply's 512 bytes, not 8 KiB (P6, 1,000 idle connections).
		size := min(slabSize, max(firstSlab, 2*cap(c.slab), need))
		c.slab, c.slabRun = make([]byte, 0, size), -1
	}
	start := len(c.slab)
	c.slab = binary.BigEndian.AppendUint32(c.slab, uint32(len(body)))
	if small {
		c.slab = append(c.slab, body...)
	}
	if c.slabRun >= 0 && c.slabRun == len(c.queue)-1 {
		r := c.queue[c.slabRun]
		c.queue[c.slabRun] = r[:len(r)+len(c.slab)-start] // r ends at start, in the same slab
	} else {
		c.queue = append(c.queue, c.slab[start:])
		c.slabRun = len(c.queue) - 1
	}
	if !small {
		c.queue = append(c.queue, body)
		c.slabRun = -1
	}
	c.queued += protocol.FrameHeaderSize + len(body)
}

// writeQueue writes the queue until it is empty, with wmu held but released during each write; frames
// queued meanwhile go out in the next write. It closes the socket when a write fails or when
// closeWith asked for it.
func (c *conn) writeQueue() {
	c.writing = true
	for len(c.queue) > 0 && !c.dead {
		q, slab := c.queue, c.slab
		c.queue, c.spare, c.queued = c.spare[:0], nil, 0
		c.slab, c.spareSlab, c.slabRun = c.spareSlab[:0], nil, -1
		c.wmu.Unlock()
		var err error
		if len(q) == 1 { // one run of the slab (a write per batch of replies): no iovec to build
			_, err = c.nc.Write(q[0])
		} else {
			w := q
			_, err = w.WriteTo(c.nc)
		}
		c.wmu.Lock()
		clear(q) // no body kept alive by the spare
		c.spare, c.spareSlab = q[:0], slab[:0]
		c.wcond.Broadcast()
		if err != nil {
			c.logger.Debug("write failed", "error", err)
			c.closeSocket()
		}
	}
	c.writing = false
	if c.closing {
		c.closeSocket()
	}
}

// closeSocket closes the socket once; sends are dropped from then on. Called with wmu held.
func (c *conn) closeSocket() {
	if c.dead {
		return
	}
	c.dead = true
	c.queue, c.spare, c.queued = nil, nil, 0
	c.slab, c.spareSlab, c.slabRun = nil, nil, -1
	_ = c.nc.Close()
	close(c.writerDone)
	c.wcond.Broadcast()
}

// closeWith sends last (when not nil) after what is queued, then closes the connection once the
// queue is written. Only the first call counts.
func (c *conn) closeWith(last *protocol.Error) {
	c.closeOnce.Do(func() {
		if last != nil {
			_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
			c.send(last)
		}
		c.wmu.Lock()
		c.closing = true
		if !c.writing {
			c.closeSocket()
		}
		c.wmu.Unlock()
	})
}

// replyID is the id an error about request id is sent with: id itself, or 0 when id belongs to a
// request in flight, whose final reply it must not look like.
func (c *conn) replyID(id uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.inflight[id]; busy {
		return 0
	}
	return id
}

// dispatch handles one frame; it returns false when the connection must stop reading.
func (c *conn) dispatch(body []byte) bool {
	arrived := time.Now()
	req, err := c.dec.Decode(body)
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			pe = protocol.NewError(0, protocol.CodeInternal, "%v", err)
		}
		if pe.ID != 0 {
			pe = pe.WithID(c.replyID(pe.ID))
		}
		c.s.m.frameErrors.WithLabelValues(codeLabel(pe)).Inc()
		c.send(pe)
		return true
	}
	switch r := req.(type) {
	case *protocol.CreditRequest:
		if st := c.stream(r.ID); st != nil {
			st.grant(int64(r.N))
		}
		return true
	case *protocol.CancelRequest:
		if st := c.stream(r.ID); st != nil {
			st.cancel(errCancelled)
		}
		return true
	case *protocol.HelloRequest:
		return c.hello(r, arrived)
	}

	id, op := req.RequestID(), req.Op()
	reject := func(e *protocol.Error) bool {
		c.s.m.observe(string(op), arrived, codeLabel(e))
		c.send(e)
		return true
	}
	if !c.helloDone {
		return reject(protocol.NewError(id, protocol.CodeHelloRequired, "the first request on a connection must be hello"))
	}
	c.mu.Lock()
	if _, dup := c.inflight[id]; dup {
		c.mu.Unlock()
		return reject(protocol.NewError(0, protocol.CodeDuplicateID, "id %d is already in flight on this connection", id))
	}
	if len(c.inflight) >= c.s.cfg.MaxInFlight {
		c.mu.Unlock()
		return reject(protocol.NewError(id, protocol.CodeTooManyRequests, "%d requests are already in flight on this connection", c.s.cfg.MaxInFlight))
	}
	if op == protocol.OpPing { // touches nothing: answered at once
		c.mu.Unlock()
		c.s.m.observe(string(op), arrived, "OK")
		c.send(&protocol.PingReply{ID: id})
		return true
	}
	if !c.s.beginRequest() {
		c.mu.Unlock()
		return reject(errShuttingDown.WithID(id))
	}
	fl := appendInFlight
	switch r := req.(type) {
	case *protocol.AppendRequest:
	case *protocol.ReadRequest:
		fl = &inflight{op: op, stream: newStream(c.ctx, int64(r.Credit))}
	case *protocol.SubscribeRequest:
		fl = &inflight{op: op, stream: newStream(c.ctx, int64(r.Credit))}
	case *protocol.SubscribeAllRequest:
		fl = &inflight{op: op, stream: newStream(c.ctx, int64(r.Credit))}
	default:
		fl = &inflight{op: op}
	}
	c.inflight[id] = fl
	c.reqs.Add(1)
	c.mu.Unlock()
	if r, ok := req.(*protocol.AppendRequest); ok {
		c.startAppend(r, arrived)
		return true
	}
	go c.run(req, fl, arrived)
	return true
}

// startAppend starts an append on the reader goroutine, once the replies queued leave room (a client
// that does not read its replies is pushed back here); its final reply is sent with sendAsync.
func (c *conn) startAppend(r *protocol.AppendRequest, arrived time.Time) {
	c.wmu.Lock()
	c.waitRoom()
	c.wmu.Unlock()
	c.s.m.inFlight.Inc()
	p := &pendingAppend{c: c, id: r.ID, arrived: arrived}
	defer func() {
		if v := recover(); v != nil {
			c.logger.Error("request panicked", "id", r.ID, "op", r.Op(), "panic", v, "stack", string(debug.Stack()))
			p.reply(protocol.NewError(r.ID, protocol.CodeInternal, "the sidecar failed on this request: %v", v))
		}
	}()
	c.handleAppend(r, p)
}

// stream returns the open read stream id, or nil.
func (c *conn) stream(id uint64) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fl := c.inflight[id]; fl != nil {
		return fl.stream
	}
	return nil
}

func (c *conn) hello(r *protocol.HelloRequest, arrived time.Time) bool {
	if c.helloDone {
		e := protocol.NewError(c.replyID(r.ID), protocol.CodeDuplicateHello, "hello was already answered on this connection")
		c.s.m.observe(string(protocol.OpHello), arrived, codeLabel(e))
		c.send(e)
		return true
	}
	if !contains(r.Versions, protocol.Version) {
		e := protocol.NewError(r.ID, protocol.CodeUnsupportedVersion, "this sidecar speaks protocol version %d, the client offered %v", protocol.Version, r.Versions)
		c.s.m.observe(string(protocol.OpHello), arrived, codeLabel(e))
		c.closeWith(e)
		return false
	}
	c.helloDone = true
	c.logger.Debug("hello", "client", r.Client, "version", protocol.Version)
	c.s.m.observe(string(protocol.OpHello), arrived, "OK")
	c.send(&protocol.HelloReply{
		ID:               r.ID,
		Version:          protocol.Version,
		Server:           ServerName,
		MaxFrameBytes:    uint32(c.s.cfg.MaxFrameBytes),
		MaxInFlight:      uint32(c.s.cfg.MaxInFlight),
		DefaultTopic:     c.s.cfg.DefaultTopic,
		DefaultTimeoutMs: uint32(c.s.cfg.DefaultTimeout / time.Millisecond),
	})
	return true
}

// run executes one request in its own goroutine and sends its final reply.
func (c *conn) run(req protocol.Request, fl *inflight, arrived time.Time) {
	id := req.RequestID()
	c.s.m.inFlight.Inc()
	defer func() {
		c.s.m.inFlight.Dec()
		c.reqs.Done()
		c.s.reqs.Done()
	}()
	var rep protocol.Reply
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.logger.Error("request panicked", "id", id, "op", req.Op(), "panic", p, "stack", string(debug.Stack()))
				rep = protocol.NewError(id, protocol.CodeInternal, "the sidecar failed on this request: %v", p)
			}
		}()
		switch r := req.(type) {
		case *protocol.ReadRequest:
			rep = c.handleRead(r, fl.stream)
		case *protocol.PointerRequest:
			rep = c.handlePointer(r)
		case *protocol.DeleteRequest:
			rep = c.handleDelete(r)
		case *protocol.PurgeRequest:
			rep = c.handlePurge(r)
		case *protocol.SaveSnapshotRequest:
			rep = c.handleSaveSnapshot(r)
		case *protocol.LoadSnapshotRequest:
			rep = c.handleLoadSnapshot(r)
		case *protocol.DeleteSnapshotsRequest:
			rep = c.handleDeleteSnapshots(r)
		case *protocol.SubscribeRequest:
			rep = c.handleSubscribe(r, fl.stream)
		case *protocol.SubscribeAllRequest:
			rep = c.handleSubscribeAll(r, fl.stream)
		default:
			rep = protocol.NewError(id, protocol.CodeUnknownOp, "op %q is not served", req.Op())
		}
	}()
	c.finish(req, arrived, rep)
	c.send(rep)
}

// finish ends request req before its final reply rep is sent: it frees the id, records the metrics and
// logs what an operator must see.
func (c *conn) finish(req protocol.Request, arrived time.Time, rep protocol.Reply) {
	c.finishID(req.RequestID(), req.Op(), arrived, rep)
}

// finishID is finish for the request id of op.
func (c *conn) finishID(id uint64, op protocol.Op, arrived time.Time, rep protocol.Reply) {
	// The id is free once the final reply is on its way: remove it first, so that a client reusing
	// the id as soon as it reads the reply never meets DUPLICATE_ID.
	c.mu.Lock()
	delete(c.inflight, id)
	c.mu.Unlock()
	e, _ := rep.(*protocol.Error)
	c.s.m.observe(string(op), arrived, codeLabel(e))
	if e != nil && (e.Code == protocol.CodeInternal || e.Code == protocol.CodeDataIntegrity) {
		// A bug, or stored data that cannot be served (a poison record: the message names its topic,
		// partition and offset): an operator must see it, not only the client.
		c.logger.Error("request failed", "id", id, "op", op, "code", e.Code.String(), "error", e.Message)
	}
}

// timeout is the request's deadline: its timeout_ms, or the configured default.
func (c *conn) timeout(req protocol.Request) time.Duration {
	if d := req.Timeout(); d > 0 {
		return d
	}
	return c.s.cfg.DefaultTimeout
}

// withTimeout derives the request's context from parent, ending with TIMEOUT after the deadline.
func (c *conn) withTimeout(parent context.Context, req protocol.Request) (context.Context, context.CancelFunc) {
	d := c.timeout(req)
	return context.WithTimeoutCause(parent, d, timeoutError(d))
}

// lastTimeout caches the TIMEOUT cause of the last deadline used: nearly every request has the
// default one, and formatting a new cause per request cost about 5% of the sidecar's CPU under load
// (make bench, P2). One entry, so clients choosing many deadlines cannot grow it. The cause is shared
// like errShuttingDown: wireError copies it with WithID.
var lastTimeout atomic.Pointer[timeoutCause]

type timeoutCause struct {
	d   time.Duration
	err *protocol.Error
}

func timeoutError(d time.Duration) *protocol.Error {
	if c := lastTimeout.Load(); c != nil && c.d == d {
		return c.err
	}
	c := &timeoutCause{d: d, err: protocol.NewError(0, protocol.CodeTimeout, "the request's deadline of %s passed", d)}
	lastTimeout.Store(c)
	return c.err
}

// key is the journal key of a request, with the topic defaulted and checked against the allow-list.
func (c *conn) key(id uint64, journalID, topic string) (journal.Key, *protocol.Error) {
	if topic == "" {
		topic = c.s.cfg.DefaultTopic
	}
	if len(c.s.cfg.AllowedTopics) > 0 && !contains(c.s.cfg.AllowedTopics, topic) {
		return journal.Key{}, protocol.NewError(id, protocol.CodeTopicNotAllowed, "topic %q is not served by this sidecar", topic)
	}
	return journal.Key{Topic: topic, ID: journalID}, nil
}
