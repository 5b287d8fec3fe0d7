package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
)

// badInput (item 5) fills the gaps of sidecar/badinput_test.go (which covers truncated, oversize,
// non-msgpack and wrong-shape frames, unknown ops, seqNr 0 and negative, on an in-process sidecar)
// against the real sidecar process: deep nesting, huge arrays, invalid UTF-8 in ids and topics,
// seqNr over the max, and 10,000 requests written without reading a reply — each gets its
// documented error or push-back, other connections are served meanwhile, and RSS stays bounded.
func badInput(t *testing.T, s *stack) {
	s.must(t, "start", "sidecar")
	topic := topicName("bad")
	pid := s.pid(t, "sidecar")
	rss0 := rssKiB(t, pid)
	good := newClient(s.socket)
	defer good.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := good.append(ctx, topic, "good", 0, 1); err != nil {
		t.Fatal(err)
	}

	rc := dialRaw(t, s.socket)
	nested := func(depth int) []byte { // an array nested depth deep, around nil
		return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
	}
	appendWith := func(id uint64, journalID, topicName string, payload []byte, seqNr []byte) []byte {
		var b bytes.Buffer
		b.WriteByte(0x85)
		enc := msgpack.NewEncoder(&b)
		_ = enc.EncodeString("id")
		_ = enc.EncodeUint(id)
		_ = enc.EncodeString("op")
		_ = enc.EncodeString("append")
		_ = enc.EncodeString("journal")
		_ = enc.EncodeString(journalID)
		_ = enc.EncodeString("topic")
		_ = enc.EncodeString(topicName)
		_ = enc.EncodeString("events")
		b.WriteByte(0x91) // one event
		if payload != nil {
			b.WriteByte(0x82)
		} else {
			b.WriteByte(0x81)
		}
		_ = enc.EncodeString("seq_nr")
		b.Write(seqNr)
		if payload != nil {
			_ = enc.EncodeString("payload")
			b.Write(payload)
		}
		return b.Bytes()
	}
	one := []byte{0x01}
	manyNils := func(n int) []byte { // an array of n nils: n+1 msgpack values
		b := []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		return append(b, bytes.Repeat([]byte{0xc0}, n)...)
	}
	cases := []struct {
		name string
		body []byte
		id   uint64 // the id of the error frame
		code protocol.Code
	}{
		{"payload nested MaxJSONDepth+1", appendWith(10, "j", topic, nested(protocol.MaxJSONDepth+1), one), 10, protocol.CodeInvalidArgument},
		{"payload nested 1,000,000 deep", appendWith(11, "j", topic, nested(1_000_000), one), 11, protocol.CodeInvalidArgument},
		{"array claiming 2^32-1 elements", appendWith(12, "j", topic, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, one), 0, protocol.CodeBadFrame},
		{"array of 2^20 nils (over MaxRequestValues)", appendWith(13, "j", topic, manyNils(1<<20), one), 0, protocol.CodeBadFrame},
		{"map claiming 2^32-1 entries", append([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 0xa2, 'i', 'd', 0x0e), 0, protocol.CodeBadFrame},
		{"invalid UTF-8 journal id", appendWith(14, "j\xff\xfe", topic, nil, one), 14, protocol.CodeInvalidArgument},
		{"invalid UTF-8 topic", appendWith(15, "j", "journal\xc3\x28", nil, one), 15, protocol.CodeInvalidArgument},
		{"seq_nr 2^63 (over max)", appendWith(16, "j", topic, nil, []byte{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}), 16, protocol.CodeInvalidSeqNr},
		{"seq_nr 2^64-1", appendWith(17, "j", topic, nil, []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 17, protocol.CodeInvalidSeqNr},
		{"seq_nr -2^63", appendWith(18, "j", topic, nil, []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}), 18, protocol.CodeInvalidSeqNr},
		{"seq_nr a float", appendWith(19, "j", topic, nil, []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}), 19, protocol.CodeInvalidArgument},
	}
	for _, tc := range cases {
		rc.write(t, tc.body)
		e := rc.nextError(t)
		if e.ID != tc.id || e.Code != tc.code || e.Retryable {
			t.Errorf("%s: got %v (id %d, retryable %v), want %v with id %d", tc.name, e, e.ID, e.Retryable, tc.code, tc.id)
		} else {
			t.Logf("%s (%d bytes): %v, id %d", tc.name, len(tc.body), e.Code, e.ID)
		}
	}
	rc.ping(t, 99) // the connection is still usable after every one of them
	if _, err := good.read(ctx, topic, "good", 5000); err != nil {
		t.Fatalf("another connection after the bad frames: %v", err)
	}

	// 10,000 requests (half appends, half reads) without reading a reply: the sidecar answers what
	// its socket buffer and writer queue hold, then stops reading the connection; others are served.
	flood, err := net.Dial("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	fw := bufio.NewWriter(flood)
	hello, _ := protocol.EncodeRequest(&protocol.HelloRequest{ID: 1, Versions: []uint32{protocol.Version}, Client: "flood"})
	_, _ = fw.Write(protocol.AppendFrame(nil, hello))
	const n = 10_000
	written := make(chan int, 1)
	go func() {
		i := 0
		defer func() { written <- i }()
		for ; i < n; i++ {
			var req protocol.Request
			if i%2 == 0 {
				req = &protocol.AppendRequest{ID: uint64(i + 2), Journal: fmt.Sprintf("flood%d", i%100), Topic: topic,
					Events: []protocol.Event{{SeqNr: int64(i + 1), PayloadType: protocol.PayloadText, Payload: "x"}}}
			} else {
				req = &protocol.ReadRequest{ID: uint64(i + 2), Journal: "good", Topic: topic, Credit: 1000}
			}
			body, _ := protocol.EncodeRequest(req)
			_ = flood.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := fw.Write(protocol.AppendFrame(nil, body)); err != nil {
				return
			}
		}
		_ = fw.Flush()
	}()
	// While the flood is stuck, another connection is served.
	served := 0
	deadline := time.Now().Add(8 * time.Second)
	var peak int
	for time.Now().Before(deadline) {
		if _, err := good.pointer(ctx, topic, "good", 5000); err != nil {
			t.Fatalf("another connection during the flood: %v", err)
		}
		served++
		peak = max(peak, rssKiB(t, pid))
		time.Sleep(50 * time.Millisecond)
	}
	var w int
	select {
	case w = <-written:
	default:
		w = -1 // still blocked: pushed back
	}
	rss1 := rssKiB(t, pid)
	peak = max(peak, rss1)
	t.Logf("flood of %d unread requests: writer %s; %d pointer requests served on another connection meanwhile; sidecar RSS %d KiB before the bad input, peak %d KiB",
		n, map[bool]string{true: "pushed back (still blocked)", false: fmt.Sprintf("wrote %d requests", w)}[w == -1], served, rss0, peak)
	if peak-rss0 > 64<<10 { // 64 MiB
		t.Errorf("sidecar RSS grew by %d KiB (from %d to %d)", peak-rss0, rss0, peak)
	}
	_ = flood.Close()
	time.Sleep(500 * time.Millisecond)
	if _, err := good.read(ctx, topic, "good", 5000); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if !s.running("sidecar") || s.pid(t, "sidecar") != pid {
		t.Fatal("the sidecar restarted")
	}
}

// rawConn is a connection that writes hand-made frames.
type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, socket string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	rc := &rawConn{nc: nc, br: bufio.NewReader(nc)}
	body, _ := protocol.EncodeRequest(&protocol.HelloRequest{ID: 1, Versions: []uint32{protocol.Version}, Client: "raw"})
	rc.write(t, body)
	if _, err := rc.next(t, protocol.OpHello); err != nil {
		t.Fatal(err)
	}
	return rc
}

func (rc *rawConn) write(t *testing.T, body []byte) {
	t.Helper()
	_ = rc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.nc.Write(protocol.AppendFrame(nil, body)); err != nil {
		t.Fatal(err)
	}
}

func (rc *rawConn) next(t *testing.T, op protocol.Op) (protocol.Reply, error) {
	t.Helper()
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := protocol.ReadFrame(rc.br, protocol.DefaultMaxFrameBytes)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	rep, err := protocol.DecodeReply(body, op)
	if err != nil {
		t.Fatalf("undecodable reply: %v", err)
	}
	if e, ok := rep.(*protocol.Error); ok {
		return nil, e
	}
	return rep, nil
}

func (rc *rawConn) nextError(t *testing.T) *protocol.Error {
	t.Helper()
	_, err := rc.next(t, protocol.OpAppend)
	e, ok := err.(*protocol.Error)
	if !ok {
		t.Fatalf("want an error frame, got %v", err)
	}
	return e
}

func (rc *rawConn) ping(t *testing.T, id uint64) {
	t.Helper()
	body, _ := protocol.EncodeRequest(&protocol.PingRequest{ID: id})
	rc.write(t, body)
	if _, err := rc.next(t, protocol.OpPing); err != nil {
		t.Fatalf("ping after bad input: %v", err)
	}
}
