package protocol

import (
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// HelloRequest opens a connection: it must be the first request. The sidecar picks the highest version
// in Versions that it speaks; with none in common it answers UNSUPPORTED_VERSION and closes.
type HelloRequest struct {
	ID uint64 `msgpack:"id"`
	// Versions are the protocol versions the client speaks, each 1..2^31-1; at least one.
	Versions []uint32 `msgpack:"versions"`
	// Client names the client library and its version, e.g. "kjournal-python/0.1.0", for logs and
	// metrics. Optional.
	Client string `msgpack:"client,omitempty"`
}

// HelloReply answers hello with the negotiated version and the connection's limits.
type HelloReply struct {
	ID uint64 `msgpack:"id"`
	// Version is the negotiated protocol version.
	Version uint32 `msgpack:"version"`
	// Server names the sidecar, e.g. "kjournal/0.1.0".
	Server string `msgpack:"server"`
	// MaxFrameBytes is the largest frame body the sidecar accepts and the largest it sends.
	MaxFrameBytes uint32 `msgpack:"max_frame_bytes"`
	// MaxInFlight is how many requests (open read streams included) may be in flight on the connection.
	MaxInFlight uint32 `msgpack:"max_in_flight"`
	// DefaultTopic is the topic used when a request has none.
	DefaultTopic string `msgpack:"default_topic"`
	// DefaultTimeoutMs is the deadline of requests without timeout_ms.
	DefaultTimeoutMs uint32 `msgpack:"default_timeout_ms"`
}

func (m *HelloRequest) RequestID() uint64      { return m.ID }
func (m *HelloRequest) Op() Op                 { return OpHello }
func (m *HelloRequest) Timeout() time.Duration { return 0 }
func (m *HelloReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *HelloRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *HelloReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *HelloRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpHello, 1+count(m.Client != ""))
	e.str("versions")
	e.arrayLen(len(m.Versions))
	for _, v := range m.Versions {
		e.uint(uint64(v))
	}
	if m.Client != "" {
		e.str("client")
		e.str(m.Client)
	}
}

func decodeHello(f *fields) Request {
	m := &HelloRequest{ID: f.id}
	if r, ok := f.get("versions"); !ok {
		f.missing("versions")
	} else if k, _, err := r.peek(); err != nil || k != kindArray {
		f.fail(CodeInvalidArgument, "versions", typeError{want: "array of integers", got: k})
	} else if n, err := r.arrayLen(0); err != nil {
		f.fail(CodeInvalidArgument, "versions", err)
	} else if n == 0 {
		f.fail(CodeInvalidArgument, "versions", errEmpty)
	} else {
		m.Versions = make([]uint32, 0, n)
		for i := range n {
			v, err := r.uintIn(1, 1<<31-1)
			if err != nil {
				f.fail(CodeInvalidArgument, "versions", fmt.Errorf("[%d]: %w", i, err))
				break
			}
			m.Versions = append(m.Versions, uint32(v))
		}
	}
	m.Client = f.str("client", false)
	return m
}

func (m *HelloReply) encode(e *enc) {
	e.replyHeader(m.ID, 6)
	e.str("version")
	e.uint(uint64(m.Version))
	e.str("server")
	e.str(m.Server)
	e.str("max_frame_bytes")
	e.uint(uint64(m.MaxFrameBytes))
	e.str("max_in_flight")
	e.uint(uint64(m.MaxInFlight))
	e.str("default_topic")
	e.str(m.DefaultTopic)
	e.str("default_timeout_ms")
	e.uint(uint64(m.DefaultTimeoutMs))
}

func decodeHelloReply(f *fields) Reply {
	return &HelloReply{
		ID:               f.id,
		Version:          uint32(f.uint("version", true, 1, 1<<31-1)),
		Server:           f.str("server", false),
		MaxFrameBytes:    uint32(f.uint("max_frame_bytes", true, 1, 1<<32-1)),
		MaxInFlight:      uint32(f.uint("max_in_flight", true, 1, 1<<32-1)),
		DefaultTopic:     f.str("default_topic", false),
		DefaultTimeoutMs: uint32(f.uint("default_timeout_ms", false, 0, 1<<32-1)),
	}
}
