package sidecar_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/journaltest"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/protocol"
	"github.com/kjournal/kjournal/sidecar"
)

// backends are the real Kafka and Cassandra, shared by the tests of the package: opening a fresh
// keyspace costs seconds. Tests isolate themselves with fresh journal ids (and topics when needed).
var backends struct {
	once     sync.Once
	err      error
	log      *kafka.Log
	store    *cassandra.Store
	keyspace string
	topic    string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if backends.store != nil {
		_ = backends.store.Session().Query("DROP KEYSPACE IF EXISTS " + backends.keyspace).Exec()
		_ = backends.store.Close()
	}
	if backends.log != nil {
		_ = backends.log.Close()
	}
	os.Exit(code)
}

// realBackends returns the shared Kafka log and Cassandra store, or skips the test.
func realBackends(tb testing.TB) (*kafka.Log, *cassandra.Store, string) {
	tb.Helper()
	brokers := testenv.KafkaBrokers(tb)
	hosts := testenv.CassandraHosts(tb)
	backends.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		backends.log, backends.err = kafka.New(kafka.Config{Brokers: brokers})
		if backends.err != nil {
			return
		}
		backends.keyspace = testenv.Name("sidecar")
		backends.topic = testenv.Name("sidecar")
		backends.store, backends.err = cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: backends.keyspace})
	})
	if backends.err != nil {
		tb.Fatalf("backends: %v", backends.err)
	}
	return backends.log, backends.store, backends.topic
}

// harness is an in-process sidecar on a temporary socket, over the real backends.
type harness struct {
	srv    *sidecar.Server
	cfg    sidecar.Config
	reg    *prometheus.Registry
	js     *journal.Journals
	socket string
	topic  string
	stop   func() // shuts the server down and waits for Run to return
}

func startSidecar(tb testing.TB, adjust ...func(*sidecar.Config)) *harness {
	tb.Helper()
	log, store, topic := realBackends(tb)
	js, err := journal.New(journal.Config{Log: log, Eventual: store})
	if err != nil {
		tb.Fatal(err)
	}
	withSnapshots := func(c *sidecar.Config) { c.Snapshots = store }
	return serve(tb, js, topic, append([]func(*sidecar.Config){withSnapshots}, adjust...)...)
}

// startFake starts a sidecar over the in-memory journaltest backends, for the tests of what the
// sidecar does before a request reaches the journal (framing, decoding, limits, the socket file).
func startFake(tb testing.TB, adjust ...func(*sidecar.Config)) *harness {
	tb.Helper()
	js, err := journal.New(journal.Config{Log: &journaltest.Log{}, Eventual: &journaltest.Eventual{}})
	if err != nil {
		tb.Fatal(err)
	}
	return serve(tb, js, "journal", adjust...)
}

func serve(tb testing.TB, js *journal.Journals, topic string, adjust ...func(*sidecar.Config)) *harness {
	tb.Helper()
	// A short directory: socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "kjs")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	reg := prometheus.NewRegistry()
	cfg := sidecar.Config{
		Journals:     js,
		Registerer:   reg,
		SocketPath:   filepath.Join(dir, "k.sock"),
		DefaultTopic: topic,
		HTTPAddr:     "127.0.0.1:0",
	}
	for _, a := range adjust {
		a(&cfg)
	}
	srv, err := sidecar.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(time.Minute):
				tb.Errorf("Run did not return after the shutdown")
			}
			_ = js.Close(context.Background())
		})
	}
	tb.Cleanup(stop)
	return &harness{srv: srv, cfg: cfg, reg: reg, js: js, socket: cfg.SocketPath, topic: topic, stop: stop}
}

// client is a minimal protocol client for the tests: one reader goroutine dispatching replies by id.
type client struct {
	tb     testing.TB
	nc     net.Conn
	wmu    sync.Mutex
	bw     *bufio.Writer
	nextID atomic.Uint64

	mu      sync.Mutex
	waiters map[uint64]*waiter
	conn0   chan *protocol.Error // errors with id 0
	closed  chan struct{}        // closed when the reader stops
	readErr error
	done    bool // the reader stopped: new waiters get a closed channel
}

type waiter struct {
	op      protocol.Op
	replies chan protocol.Reply
}

// dial connects without hello.
func dial(tb testing.TB, socket string) *client {
	tb.Helper()
	nc, err := net.Dial("unix", socket)
	if err != nil {
		tb.Fatal(err)
	}
	c := &client{tb: tb, nc: nc, bw: bufio.NewWriter(nc), waiters: map[uint64]*waiter{},
		conn0: make(chan *protocol.Error, 1024), closed: make(chan struct{})}
	go c.readLoop()
	tb.Cleanup(func() { _ = c.nc.Close() })
	return c
}

// connect connects and says hello.
func connect(tb testing.TB, socket string) *client {
	tb.Helper()
	c := dial(tb, socket)
	rep := c.do(&protocol.HelloRequest{Versions: []uint32{1}, Client: "sidecar-test"})
	if _, ok := rep.(*protocol.HelloReply); !ok {
		tb.Fatalf("hello: %v", rep)
	}
	return c
}

func (c *client) readLoop() {
	defer close(c.closed)
	br := bufio.NewReader(c.nc)
	for {
		body, err := protocol.ReadFrame(br, 64<<20)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.done = true
			for _, w := range c.waiters {
				close(w.replies)
			}
			c.waiters = map[uint64]*waiter{}
			c.mu.Unlock()
			return
		}
		id, err := peekID(body)
		if err != nil {
			c.tb.Errorf("reply without id: %v", err)
			continue
		}
		c.mu.Lock()
		w := c.waiters[id]
		c.mu.Unlock()
		op := protocol.OpHello
		if w != nil {
			op = w.op
		}
		rep, err := protocol.DecodeReply(body, op)
		if err != nil {
			c.tb.Errorf("undecodable reply %x: %v", body, err)
			continue
		}
		if id == 0 {
			if e, ok := rep.(*protocol.Error); ok {
				c.conn0 <- e
			} else {
				c.tb.Errorf("id 0 reply that is not an error: %#v", rep)
			}
			continue
		}
		if w == nil {
			c.tb.Errorf("reply for id %d, which is not in flight: %#v", id, rep)
			continue
		}
		final := true
		switch rep.(type) {
		case *protocol.ReadEvents, *protocol.SubscribeAllEvents:
			final = false
		}
		if final {
			c.mu.Lock()
			delete(c.waiters, id)
			c.mu.Unlock()
		}
		w.replies <- rep
		if final {
			close(w.replies)
		}
	}
}

func peekID(body []byte) (uint64, error) {
	rep, err := protocol.DecodeReply(body, protocol.OpPing) // every reply has an id; the rest is ignored
	if err == nil {
		return rep.ReplyID(), nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.ID != 0 {
		return pe.ID, nil
	}
	return 0, err
}

// send writes req, assigning an id when it has none, and returns the channel of its replies.
func (c *client) send(req protocol.Request, buffer int) (uint64, <-chan protocol.Reply) {
	id := setID(req, c)
	ch := make(chan protocol.Reply, buffer)
	switch req.(type) {
	case *protocol.CreditRequest, *protocol.CancelRequest:
		ch = nil
	default:
		c.mu.Lock()
		if c.done {
			close(ch)
		} else {
			c.waiters[id] = &waiter{op: req.Op(), replies: ch}
		}
		c.mu.Unlock()
	}
	body, err := protocol.EncodeRequest(req)
	if err != nil {
		c.tb.Fatalf("encode %#v: %v", req, err)
	}
	c.writeRaw(protocol.AppendFrame(nil, body))
	return id, ch
}

func (c *client) writeRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.bw.Write(b)
	_ = c.bw.Flush()
}

// do sends a request and waits for its final reply (nil when the connection closed first).
func (c *client) do(req protocol.Request) protocol.Reply {
	c.tb.Helper()
	_, ch := c.send(req, 1)
	return c.await(ch)
}

func (c *client) await(ch <-chan protocol.Reply) protocol.Reply {
	c.tb.Helper()
	select {
	case rep := <-ch:
		return rep
	case <-time.After(20 * time.Second):
		c.tb.Fatalf("no reply within 20s")
		return nil
	}
}

// readAll reads a whole stream granting credit as events arrive; it returns the events and the
// final frame.
func (c *client) readAll(req *protocol.ReadRequest) ([]protocol.EventRecord, protocol.Reply) {
	if req.Credit == 0 {
		req.Credit = 100
	}
	id, ch := c.send(req, 64)
	var events []protocol.EventRecord
	for {
		rep := c.await(ch)
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			events = append(events, r.Events...)
			c.send(&protocol.CreditRequest{ID: id, N: uint32(len(r.Events))}, 0)
		default:
			return events, rep
		}
	}
}

func setID(req protocol.Request, c *client) uint64 {
	next := func(p *uint64) uint64 {
		if *p == 0 {
			*p = c.nextID.Add(1)
		}
		return *p
	}
	switch r := req.(type) {
	case *protocol.HelloRequest:
		return next(&r.ID)
	case *protocol.AppendRequest:
		return next(&r.ID)
	case *protocol.ReadRequest:
		return next(&r.ID)
	case *protocol.CreditRequest:
		return r.ID
	case *protocol.CancelRequest:
		return r.ID
	case *protocol.PointerRequest:
		return next(&r.ID)
	case *protocol.DeleteRequest:
		return next(&r.ID)
	case *protocol.PurgeRequest:
		return next(&r.ID)
	case *protocol.PingRequest:
		return next(&r.ID)
	case *protocol.SaveSnapshotRequest:
		return next(&r.ID)
	case *protocol.LoadSnapshotRequest:
		return next(&r.ID)
	case *protocol.DeleteSnapshotsRequest:
		return next(&r.ID)
	case *protocol.SubscribeRequest:
		return next(&r.ID)
	case *protocol.SubscribeAllRequest:
		return next(&r.ID)
	}
	panic(fmt.Sprintf("unknown request %T", req))
}

// textEvents returns events from..to with text payloads "e<seqNr>".
func textEvents(from, to int64) []protocol.Event {
	out := make([]protocol.Event, 0, to-from+1)
	for s := from; s <= to; s++ {
		out = append(out, protocol.Event{SeqNr: s, PayloadType: protocol.PayloadText, Payload: fmt.Sprintf("e%d", s)})
	}
	return out
}

// mustAppend appends events and fails the test unless the sidecar acknowledged them.
func (c *client) mustAppend(journalID string, events []protocol.Event) *protocol.AppendReply {
	c.tb.Helper()
	rep := c.do(&protocol.AppendRequest{Journal: journalID, Events: events})
	ar, ok := rep.(*protocol.AppendReply)
	if !ok {
		c.tb.Fatalf("append: %v", rep)
	}
	return ar
}

// wantError fails unless rep is an error frame with code.
func wantError(tb testing.TB, rep protocol.Reply, code protocol.Code) *protocol.Error {
	tb.Helper()
	e, ok := rep.(*protocol.Error)
	if !ok || e.Code != code {
		tb.Fatalf("got %#v, want error %s", rep, code)
	}
	return e
}

// conn0 waits for an id-0 error frame.
func (c *client) waitConn0(code protocol.Code) *protocol.Error {
	c.tb.Helper()
	select {
	case e := <-c.conn0:
		if e.Code != code {
			c.tb.Fatalf("id-0 error %v, want %s", e, code)
		}
		return e
	case <-time.After(30 * time.Second):
		c.tb.Fatalf("no id-0 error %s", code)
		return nil
	}
}

// waitClosed waits until the sidecar closed the connection.
func (c *client) waitClosed() {
	c.tb.Helper()
	select {
	case <-c.closed:
	case <-time.After(30 * time.Second):
		c.tb.Fatalf("the sidecar did not close the connection")
	}
}

// sendRaw writes one frame with body and, when id is not 0, waits for the replies to id as op.
func (c *client) sendRaw(id uint64, op protocol.Op, body []byte) <-chan protocol.Reply {
	var ch chan protocol.Reply
	if id != 0 {
		ch = make(chan protocol.Reply, 16)
		c.mu.Lock()
		if c.done {
			close(ch)
		} else {
			c.waiters[id] = &waiter{op: op, replies: ch}
		}
		c.mu.Unlock()
	}
	c.writeRaw(protocol.AppendFrame(nil, body))
	return ch
}

// ping checks that the connection still serves requests.
func (c *client) ping() {
	c.tb.Helper()
	if _, ok := c.do(&protocol.PingRequest{}).(*protocol.PingReply); !ok {
		c.tb.Fatalf("ping failed")
	}
}

// metric returns the value of a gauge or counter (summed over its series) from the gatherer.
func metric(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// eventually polls cond until it holds or 20s passed.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
