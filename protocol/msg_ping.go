package protocol

import (
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// PingRequest checks that the connection and the sidecar are alive; it touches no backend.
type PingRequest struct {
	ID        uint64 `msgpack:"id"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// PingReply (the pong) is a frame with only the id.
type PingReply struct {
	ID uint64 `msgpack:"id"`
}

func (m *PingRequest) RequestID() uint64      { return m.ID }
func (m *PingRequest) Op() Op                 { return OpPing }
func (m *PingRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *PingReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PingRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PingReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *PingRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpPing, count(m.TimeoutMs != 0))
	e.timeoutMs(m.TimeoutMs)
}

func decodePing(f *fields) Request { return &PingRequest{ID: f.id, TimeoutMs: f.timeoutMs()} }

func (m *PingReply) encode(e *enc) { e.replyHeader(m.ID, 0) }
