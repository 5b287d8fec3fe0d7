package sidecar_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
	"github.com/kjournal/kjournal/sidecar"
)

func pack(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type m = map[string]any

// TestSidecar_BadInput sends every kind of malformed request on one connection: each gets its coded
// error with the id the protocol says, and the connection keeps serving.
func TestSidecar_BadInput(t *testing.T) {
	h := startFake(t)
	c := connect(t, h.socket)
	ev := func(seqNr any) m { return m{"seq_nr": seqNr} }
	cases := []struct {
		name string
		body []byte
		id   uint64 // the id the error frame must carry
		op   protocol.Op
		code protocol.Code
	}{
		{"not msgpack", []byte{0xc1}, 0, "", protocol.CodeBadFrame},
		{"truncated msgpack", []byte{0x82, 0xa2, 'i'}, 0, "", protocol.CodeBadFrame},
		{"an array", pack(t, []any{1, 2}), 0, "", protocol.CodeBadFrame},
		{"trailing bytes", append(pack(t, m{"id": 900, "op": "ping"}), 0xc0), 0, "", protocol.CodeBadFrame},
		{"int keys", pack(t, map[int]any{1: 2}), 0, "", protocol.CodeBadFrame},
		{"empty body", []byte{}, 0, "", protocol.CodeBadFrame},
		{"no id", pack(t, m{"op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"id 0", pack(t, m{"id": 0, "op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"id negative", pack(t, m{"id": -3, "op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"id float", pack(t, m{"id": 1.0, "op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"id string", pack(t, m{"id": "7", "op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"id beyond 2^53", pack(t, m{"id": uint64(1) << 53, "op": "ping"}), 0, "", protocol.CodeInvalidID},
		{"no op", pack(t, m{"id": 901}), 901, protocol.OpPing, protocol.CodeUnknownOp},
		{"unknown op", pack(t, m{"id": 902, "op": "frobnicate"}), 902, protocol.OpPing, protocol.CodeUnknownOp},
		{"op not a string", pack(t, m{"id": 903, "op": 5}), 903, protocol.OpPing, protocol.CodeUnknownOp},
		{"append without journal", pack(t, m{"id": 904, "op": "append", "events": []any{ev(1)}}), 904, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append journal not a string", pack(t, m{"id": 905, "op": "append", "journal": 5, "events": []any{ev(1)}}), 905, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append empty journal", pack(t, m{"id": 906, "op": "append", "journal": "", "events": []any{ev(1)}}), 906, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append without events", pack(t, m{"id": 907, "op": "append", "journal": "j"}), 907, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append events not an array", pack(t, m{"id": 908, "op": "append", "journal": "j", "events": "x"}), 908, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append empty events", pack(t, m{"id": 909, "op": "append", "journal": "j", "events": []any{}}), 909, protocol.OpAppend, protocol.CodeEmptyEvents},
		{"append seq_nr 0", pack(t, m{"id": 910, "op": "append", "journal": "j", "events": []any{ev(0)}}), 910, protocol.OpAppend, protocol.CodeInvalidSeqNr},
		{"append seq_nr negative", pack(t, m{"id": 911, "op": "append", "journal": "j", "events": []any{ev(-1)}}), 911, protocol.OpAppend, protocol.CodeInvalidSeqNr},
		{"append seq_nr not increasing", pack(t, m{"id": 912, "op": "append", "journal": "j", "events": []any{ev(2), ev(2)}}), 912, protocol.OpAppend, protocol.CodeInvalidSeqNr},
		{"append seq_nr a string", pack(t, m{"id": 913, "op": "append", "journal": "j", "events": []any{ev("1")}}), 913, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append event without seq_nr", pack(t, m{"id": 914, "op": "append", "journal": "j", "events": []any{m{}}}), 914, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append binary payload typed json", pack(t, m{"id": 915, "op": "append", "journal": "j", "events": []any{m{"seq_nr": 1, "payload": []byte{1}, "payload_type": "json"}}}), 915, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append unknown payload_type", pack(t, m{"id": 916, "op": "append", "journal": "j", "events": []any{m{"seq_nr": 1, "payload": "x", "payload_type": "xml"}}}), 916, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append metadata binary", pack(t, m{"id": 917, "op": "append", "journal": "j", "events": []any{ev(1)}, "metadata": []byte{1}}), 917, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append illegal topic", pack(t, m{"id": 918, "op": "append", "journal": "j", "topic": "a/b", "events": []any{ev(1)}}), 918, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append expire_after_ms 0", pack(t, m{"id": 919, "op": "append", "journal": "j", "events": []any{ev(1)}, "expire_after_ms": 0}), 919, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"append timeout_ms float", pack(t, m{"id": 920, "op": "append", "journal": "j", "events": []any{ev(1)}, "timeout_ms": 1.5}), 920, protocol.OpAppend, protocol.CodeInvalidArgument},
		{"read without credit", pack(t, m{"id": 921, "op": "read", "journal": "j"}), 921, protocol.OpRead, protocol.CodeInvalidArgument},
		{"read from 0", pack(t, m{"id": 922, "op": "read", "journal": "j", "credit": 1, "from": 0}), 922, protocol.OpRead, protocol.CodeInvalidSeqNr},
		{"read to negative", pack(t, m{"id": 923, "op": "read", "journal": "j", "credit": 1, "to": -4}), 923, protocol.OpRead, protocol.CodeInvalidSeqNr},
		{"read credit negative", pack(t, m{"id": 924, "op": "read", "journal": "j", "credit": -1}), 924, protocol.OpRead, protocol.CodeInvalidArgument},
		{"pointer without journal", pack(t, m{"id": 925, "op": "pointer"}), 925, protocol.OpPointer, protocol.CodeInvalidArgument},
		{"delete without to", pack(t, m{"id": 926, "op": "delete", "journal": "j"}), 926, protocol.OpDelete, protocol.CodeInvalidArgument},
		{"delete to 0", pack(t, m{"id": 927, "op": "delete", "journal": "j", "to": 0}), 927, protocol.OpDelete, protocol.CodeInvalidSeqNr},
		{"delete to negative", pack(t, m{"id": 928, "op": "delete", "journal": "j", "to": -9}), 928, protocol.OpDelete, protocol.CodeInvalidSeqNr},
		{"purge journal binary", pack(t, m{"id": 929, "op": "purge", "journal": []byte("j")}), 929, protocol.OpPurge, protocol.CodeInvalidArgument},
		{"hello without versions", pack(t, m{"id": 930, "op": "hello"}), 930, protocol.OpHello, protocol.CodeInvalidArgument},
		{"credit without n", pack(t, m{"id": 931, "op": "credit"}), 0, "", protocol.CodeInvalidArgument},
		{"credit n 0", pack(t, m{"id": 932, "op": "credit", "n": 0}), 0, "", protocol.CodeInvalidArgument},
		{"cancel id 0", pack(t, m{"id": 0, "op": "cancel"}), 0, "", protocol.CodeInvalidID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := c.sendRaw(tc.id, tc.op, tc.body)
			if tc.id == 0 {
				c.waitConn0(tc.code)
			} else {
				e := wantError(t, c.await(ch), tc.code)
				if e.Retryable {
					t.Errorf("%s is retryable", tc.code)
				}
			}
			c.ping()
		})
	}
	// Credit and cancel for ids that are not open streams are ignored.
	c.send(&protocol.CreditRequest{ID: 77, N: 5}, 0)
	c.send(&protocol.CancelRequest{ID: 77}, 0)
	c.ping()
	select {
	case e := <-c.conn0:
		t.Fatalf("unexpected connection error %v", e)
	default:
	}
}

func TestSidecar_FrameTooLarge(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) { cfg.MaxFrameBytes = 4096 })
	c := connect(t, h.socket)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 4097)
	c.writeRaw(hdr[:])
	c.waitConn0(protocol.CodeFrameTooLarge)
	c.waitClosed()
	// The sidecar goes on serving others; a frame of exactly max_frame_bytes is accepted.
	c2 := connect(t, h.socket)
	body := pack(t, m{"id": 1000, "op": "ping", "pad": string(make([]byte, 4096-30))})
	if len(body) > 4096 {
		t.Fatalf("test frame of %d bytes", len(body))
	}
	if _, ok := c2.await(c2.sendRaw(1000, protocol.OpPing, body)).(*protocol.PingReply); !ok {
		t.Fatal("no pong for a frame within the limit")
	}
	// A huge announced length is refused before anything is allocated.
	c3 := connect(t, h.socket)
	c3.writeRaw([]byte{0xff, 0xff, 0xff, 0xff})
	c3.waitConn0(protocol.CodeFrameTooLarge)
	c3.waitClosed()
}

func TestSidecar_Hello(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) {
		cfg.MaxInFlight = 7
		cfg.DefaultTimeout = 1500 * time.Millisecond
	})
	c := dial(t, h.socket)
	wantError(t, c.do(&protocol.PingRequest{}), protocol.CodeHelloRequired)
	wantError(t, c.do(&protocol.PointerRequest{Journal: "j"}), protocol.CodeHelloRequired)
	rep, ok := c.do(&protocol.HelloRequest{Versions: []uint32{3, 1, 2}}).(*protocol.HelloReply)
	if !ok {
		t.Fatalf("hello: %#v", rep)
	}
	want := protocol.HelloReply{ID: rep.ID, Version: 1, Server: sidecar.ServerName, MaxFrameBytes: sidecar.DefaultMaxFrameBytes,
		MaxInFlight: 7, DefaultTopic: "journal", DefaultTimeoutMs: 1500}
	if *rep != want {
		t.Fatalf("hello reply %+v, want %+v", *rep, want)
	}
	wantError(t, c.do(&protocol.HelloRequest{Versions: []uint32{1}}), protocol.CodeDuplicateHello)
	c.ping()

	c2 := dial(t, h.socket)
	wantError(t, c2.do(&protocol.HelloRequest{Versions: []uint32{2, 3}}), protocol.CodeUnsupportedVersion)
	c2.waitClosed()
}

func TestSidecar_DuplicateIDAndLimits(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) { cfg.MaxInFlight = 2 })
	c := connect(t, h.socket)
	c.mustAppend("j", textEvents(1, 2))
	c.mustAppend("j2", textEvents(1, 2))
	// A read with no credit of a journal with events stays in flight until cancelled.
	id1, ch1 := c.send(&protocol.ReadRequest{Journal: "j", Credit: 0}, 4)
	id2, ch2 := c.send(&protocol.ReadRequest{Journal: "j2", Credit: 0}, 4)
	eventually(t, "two streams open", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 2 })

	// DUPLICATE_ID goes out with id 0 and leaves the request in flight alone.
	body, _ := protocol.EncodeRequest(&protocol.PingRequest{ID: id1})
	c.sendRaw(0, "", body) // not registered: the read keeps the id in the client too
	e := c.waitConn0(protocol.CodeDuplicateID)
	if e.ID != 0 {
		t.Fatalf("DUPLICATE_ID with id %d", e.ID)
	}
	// A malformed request reusing an id in flight is answered with id 0 too.
	c.sendRaw(0, "", pack(t, m{"id": id2, "op": "append", "journal": "j"}))
	c.waitConn0(protocol.CodeInvalidArgument)

	e = wantError(t, c.do(&protocol.PointerRequest{Journal: "j"}), protocol.CodeTooManyRequests)
	if !e.Retryable {
		t.Fatal("TOO_MANY_REQUESTS is not retryable")
	}
	// Cancel ends the stream with CANCELLED; its slot and id are free again.
	c.send(&protocol.CancelRequest{ID: id1}, 0)
	wantError(t, c.await(ch1), protocol.CodeCancelled)
	if rep, ok := c.do(&protocol.PingRequest{ID: id1}).(*protocol.PingReply); !ok || rep.ID != id1 {
		t.Fatalf("ping reusing a finished id: %#v", rep)
	}
	if _, ok := c.do(&protocol.PointerRequest{Journal: "j"}).(*protocol.PointerReply); !ok {
		t.Fatal("pointer after a slot was freed")
	}
	c.send(&protocol.CancelRequest{ID: id2}, 0)
	wantError(t, c.await(ch2), protocol.CodeCancelled)
	eventually(t, "no streams open", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 0 })
}

func TestSidecar_TooManyConnections(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) { cfg.MaxConnections = 2 })
	a := connect(t, h.socket)
	b := connect(t, h.socket)
	c := dial(t, h.socket)
	e := c.waitConn0(protocol.CodeTooManyConnections)
	if !e.Retryable {
		t.Fatal("TOO_MANY_CONNECTIONS is not retryable")
	}
	c.waitClosed()
	a.ping()
	b.ping()
	_ = a.nc.Close()
	eventually(t, "a free slot", func() bool { return metric(t, h.reg, "kjournal_sidecar_connections") == 1 })
	connect(t, h.socket).ping()
}

func TestSidecar_TopicAllowList(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) { cfg.AllowedTopics = []string{"journal", "other"} })
	c := connect(t, h.socket)
	wantError(t, c.do(&protocol.AppendRequest{Journal: "j", Topic: "secret", Events: textEvents(1, 1)}), protocol.CodeTopicNotAllowed)
	wantError(t, c.do(&protocol.ReadRequest{Journal: "j", Topic: "secret", Credit: 1}), protocol.CodeTopicNotAllowed)
	wantError(t, c.do(&protocol.PurgeRequest{Journal: "j", Topic: "secret"}), protocol.CodeTopicNotAllowed)
	c.mustAppend("j", textEvents(1, 1))
	if _, ok := c.do(&protocol.AppendRequest{Journal: "j", Topic: "other", Events: textEvents(1, 1)}).(*protocol.AppendReply); !ok {
		t.Fatal("append to an allowed topic failed")
	}
}

func TestSidecar_PeerUID(t *testing.T) {
	uid := uint32(os.Getuid())
	h := startFake(t, func(cfg *sidecar.Config) { cfg.AllowedUIDs = []uint32{uid + 1} })
	c := dial(t, h.socket)
	c.waitConn0(protocol.CodePermissionDenied)
	c.waitClosed()

	h2 := startFake(t, func(cfg *sidecar.Config) { cfg.AllowedUIDs = []uint32{uid + 1, uid} })
	connect(t, h2.socket).ping()
}

// TestSidecar_ClientGoesAway closes connections in the middle of streams and of frames: the sidecar
// releases the streams and goes on serving.
func TestSidecar_ClientGoesAway(t *testing.T) {
	h := startFake(t)
	c := connect(t, h.socket)
	c.mustAppend("j", textEvents(1, 10))
	_, ch := c.send(&protocol.ReadRequest{Journal: "j", Credit: 3}, 4)
	if ev, ok := c.await(ch).(*protocol.ReadEvents); !ok || len(ev.Events) != 3 {
		t.Fatalf("first frame: %#v", ev)
	}
	eventually(t, "a stream open", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 1 })
	_ = c.nc.Close()
	eventually(t, "the stream released", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 0 })
	eventually(t, "the connection released", func() bool { return metric(t, h.reg, "kjournal_sidecar_connections") == 0 })

	// Half a frame, then gone.
	nc, err := net.Dial("unix", h.socket)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte{0, 0, 1, 0, 0x82})
	_ = nc.Close()
	// Half a length prefix, then gone.
	nc, err = net.Dial("unix", h.socket)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte{0, 0})
	_ = nc.Close()
	eventually(t, "the connections released", func() bool { return metric(t, h.reg, "kjournal_sidecar_connections") == 0 })
	connect(t, h.socket).ping()
}

// TestSidecar_FramesUnderMax reads events through a sidecar with small frames: every events frame
// stays under max_frame_bytes, and an event that cannot fit one ends the stream with an error.
func TestSidecar_FramesUnderMax(t *testing.T) {
	big := startFake(t)
	small := serve(t, big.js, "journal", func(cfg *sidecar.Config) { cfg.MaxFrameBytes = 4096 })
	w := connect(t, big.socket)
	events := make([]protocol.Event, 20)
	for i := range events {
		events[i] = protocol.Event{SeqNr: int64(i + 1), PayloadType: protocol.PayloadBinary, Payload: make([]byte, 1000)}
	}
	w.mustAppend("j", events)
	w.mustAppend("j", []protocol.Event{{SeqNr: 21, PayloadType: protocol.PayloadBinary, Payload: make([]byte, 5000)}})

	c := connect(t, small.socket)
	_, ch := c.send(&protocol.ReadRequest{Journal: "j", Credit: 1000}, 64)
	var got []int64
	frames := 0
	for {
		rep := c.await(ch)
		ev, ok := rep.(*protocol.ReadEvents)
		if !ok {
			e := wantError(t, rep, protocol.CodeInternal)
			if !strings.Contains(e.Message, "max_frame_bytes") {
				t.Errorf("error %q", e.Message)
			}
			break
		}
		frames++
		body, err := protocol.EncodeReply(ev)
		if err != nil || len(body) > 4096 {
			t.Fatalf("frame of %d bytes: %v", len(body), err)
		}
		got = append(got, seqNrsOf(ev.Events)...)
	}
	if len(got) != 20 || got[19] != 20 || frames < 5 {
		t.Fatalf("%d frames with %v", frames, got)
	}
}

// TestSidecar_AppendsPushBackOnNonReadingClient writes appends and never reads a reply: the replies
// queue up to a bound, then the sidecar stops reading the connection, so the client's writes stall
// long before all the appends were served; other connections are still served.
func TestSidecar_AppendsPushBackOnNonReadingClient(t *testing.T) {
	h := startFake(t, func(cfg *sidecar.Config) { cfg.MaxInFlight = 1000 })
	nc, err := net.Dial("unix", h.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 50_000 // ~2.5 MiB of requests and ~1.5 MiB of replies, far more than the socket buffers
	var frames []byte
	for i := range n + 1 {
		var req protocol.Request = &protocol.HelloRequest{ID: 1, Versions: []uint32{1}}
		if i > 0 {
			req = &protocol.AppendRequest{ID: uint64(i + 1), Journal: fmt.Sprintf("j%d", i), Events: textEvents(1, 1)}
		}
		body, err := protocol.EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		frames = protocol.AppendFrame(frames, body)
	}
	_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(frames); err == nil {
		t.Fatalf("all %d appends were written without a reply read", n)
	}
	served := metric(t, h.reg, "kjournal_sidecar_requests_total") - 1 // hello
	if served >= n/2 {
		t.Fatalf("%v of %d appends served to a client that reads nothing", served, n)
	}
	t.Logf("%v of %d appends served before the sidecar stopped reading", served, n)
	c := connect(t, h.socket)
	c.mustAppend("other", textEvents(1, 1))
}
