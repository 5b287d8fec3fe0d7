package protocol

import (
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// PurgeRequest removes a journal completely; the next append starts it anew from any seq_nr.
type PurgeRequest struct {
	ID        uint64 `msgpack:"id"`
	Journal   string `msgpack:"journal"`
	Topic     string `msgpack:"topic,omitempty"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// PurgeReply is where Kafka stored the Purge action (always written, even for an empty journal).
type PurgeReply struct {
	ID        uint64 `msgpack:"id"`
	Partition int32  `msgpack:"partition"`
	Offset    int64  `msgpack:"offset"`
}

func (m *PurgeRequest) RequestID() uint64      { return m.ID }
func (m *PurgeRequest) Op() Op                 { return OpPurge }
func (m *PurgeRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *PurgeReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PurgeRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PurgeReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *PurgeRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpPurge, 1+count(m.Topic != "", m.TimeoutMs != 0))
	e.journalTopic(m.Journal, m.Topic)
	e.timeoutMs(m.TimeoutMs)
}

func decodePurge(f *fields) Request {
	return &PurgeRequest{ID: f.id, Journal: f.journal(), Topic: f.topic(), TimeoutMs: f.timeoutMs()}
}

func (m *PurgeReply) encode(e *enc) {
	e.replyHeader(m.ID, 2)
	e.str("partition")
	e.int(int64(m.Partition))
	e.str("offset")
	e.int(m.Offset)
}

func decodePurgeReply(f *fields) Reply {
	return &PurgeReply{
		ID:        f.id,
		Partition: int32(f.uint("partition", true, 0, math.MaxInt32)),
		Offset:    int64(f.uint("offset", true, 0, math.MaxInt64)),
	}
}
