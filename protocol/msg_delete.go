package protocol

import (
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// DeleteRequest deletes a journal's events with seq_nr <= To. The sidecar clamps To to the journal's
// last seq_nr, so deleting to MaxSeqNr deletes everything and keeps the journal's highest seq_nr.
type DeleteRequest struct {
	ID      uint64 `msgpack:"id"`
	Journal string `msgpack:"journal"`
	Topic   string `msgpack:"topic,omitempty"`
	// To is 1..MaxSeqNr (required).
	To        int64  `msgpack:"to"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// DeleteReply is where Kafka stored the Delete action, or, when the journal had no events so that
// nothing was written, Deleted false and partition and offset nil on the wire.
type DeleteReply struct {
	ID        uint64 `msgpack:"id"`
	Partition int32  `msgpack:"partition"`
	Offset    int64  `msgpack:"offset"`
	// Deleted is false when nothing was written; it is not a key of its own on the wire.
	Deleted bool `msgpack:"-"`
}

func (m *DeleteRequest) RequestID() uint64      { return m.ID }
func (m *DeleteRequest) Op() Op                 { return OpDelete }
func (m *DeleteRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *DeleteReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *DeleteRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *DeleteReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *DeleteRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpDelete, 2+count(m.Topic != "", m.TimeoutMs != 0))
	e.journalTopic(m.Journal, m.Topic)
	e.str("to")
	e.int(m.To)
	e.timeoutMs(m.TimeoutMs)
}

func decodeDelete(f *fields) Request {
	return &DeleteRequest{ID: f.id, Journal: f.journal(), Topic: f.topic(), To: f.seqNr("to", true), TimeoutMs: f.timeoutMs()}
}

func (m *DeleteReply) encode(e *enc) {
	e.replyHeader(m.ID, 2)
	if !m.Deleted {
		e.str("partition")
		e.nil()
		e.str("offset")
		e.nil()
		return
	}
	e.str("partition")
	e.int(int64(m.Partition))
	e.str("offset")
	e.int(m.Offset)
}

func decodeDeleteReply(f *fields) Reply {
	_, hasP := f.get("partition")
	_, hasO := f.get("offset")
	if hasP != hasO {
		f.fail(CodeInvalidArgument, "partition", errMismatchedNil)
	}
	m := &DeleteReply{ID: f.id, Deleted: hasP}
	if hasP {
		m.Partition = int32(f.uint("partition", true, 0, math.MaxInt32))
		m.Offset = int64(f.uint("offset", true, 0, math.MaxInt64))
	}
	return m
}
