package protocol

import (
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// PointerRequest asks for a journal's last seq_nr. Like read, it costs one Mark round trip.
type PointerRequest struct {
	ID        uint64 `msgpack:"id"`
	Journal   string `msgpack:"journal"`
	Topic     string `msgpack:"topic,omitempty"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// PointerReply is the journal's last seq_nr.
type PointerReply struct {
	ID uint64 `msgpack:"id"`
	// SeqNr is the last seq_nr; 0 (nil on the wire) when the journal has none (never appended, or
	// purged).
	SeqNr int64 `msgpack:"seq_nr"`
}

func (m *PointerRequest) RequestID() uint64      { return m.ID }
func (m *PointerRequest) Op() Op                 { return OpPointer }
func (m *PointerRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *PointerReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PointerRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *PointerReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *PointerRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpPointer, 1+count(m.Topic != "", m.TimeoutMs != 0))
	e.journalTopic(m.Journal, m.Topic)
	e.timeoutMs(m.TimeoutMs)
}

func decodePointer(f *fields) Request {
	return &PointerRequest{ID: f.id, Journal: f.journal(), Topic: f.topic(), TimeoutMs: f.timeoutMs()}
}

func (m *PointerReply) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("seq_nr")
	e.uintOrNil(uint64(m.SeqNr))
}

func decodePointerReply(f *fields) Reply {
	if !f.has("seq_nr") {
		f.missing("seq_nr")
	}
	return &PointerReply{ID: f.id, SeqNr: f.seqNr("seq_nr", false)}
}

// journalTopic writes the journal key and, when set, the topic key.
func (e *enc) journalTopic(journal, topic string) {
	e.str("journal")
	e.str(journal)
	if topic != "" {
		e.str("topic")
		e.str(topic)
	}
}

// timeoutMs writes the timeout_ms key when set.
func (e *enc) timeoutMs(ms uint32) {
	if ms != 0 {
		e.str("timeout_ms")
		e.uint(uint64(ms))
	}
}
