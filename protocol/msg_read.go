package protocol

import (
	"fmt"
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ReadRequest opens a read stream over a journal's events with seq_nr in [From, To], at most Max of
// them. The sidecar answers with zero or more ReadEvents frames, each with at most as many events as
// the client has granted and not yet received, then exactly one ReadEnd — or an *Error, which also
// ends the stream. The initial grant is Credit; CreditRequest grants more.
type ReadRequest struct {
	ID      uint64 `msgpack:"id"`
	Journal string `msgpack:"journal"`
	Topic   string `msgpack:"topic,omitempty"`
	// From is the first seq_nr to read, 1..MaxSeqNr; 0 means 1.
	From int64 `msgpack:"from,omitempty"`
	// To is the last seq_nr to read, 1..MaxSeqNr; 0 means MaxSeqNr.
	To int64 `msgpack:"to,omitempty"`
	// Max is the most events to return, 1..MaxSeqNr; 0 means no limit.
	Max int64 `msgpack:"max,omitempty"`
	// Credit is the number of events the client can take now, 0..MaxCredit (required on the wire).
	Credit    uint32 `msgpack:"credit"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// CreditRequest grants N more events to the open read stream ID. It gets no reply; for an id that is
// not an open read stream (it may just have ended) it is ignored.
type CreditRequest struct {
	ID uint64 `msgpack:"id"`
	// N is 1..MaxCredit; the stream's balance saturates at MaxCredit.
	N uint32 `msgpack:"n"`
}

// CancelRequest stops the open read stream ID, which then ends with a CANCELLED error frame (unless
// its end or error frame was already sent). It gets no reply of its own; for an id that is not an open
// read stream it is ignored.
type CancelRequest struct {
	ID uint64 `msgpack:"id"`
}

// ReadEvents is one frame of a read stream.
type ReadEvents struct {
	ID     uint64        `msgpack:"id"`
	Events []EventRecord `msgpack:"events"`
}

// ReadEnd ends a read stream successfully.
type ReadEnd struct {
	ID uint64 `msgpack:"id"`
	// End is always true on the wire; it tells the frame apart from ReadEvents.
	End bool `msgpack:"end"`
	// HighestSeqNr is the journal's last seq_nr as of the read's Mark (what pointer would return),
	// whatever From, To and Max were; 0 (nil on the wire) when the journal has none.
	HighestSeqNr int64 `msgpack:"highest_seq_nr"`
}

// EventRecord is an event as read back, with where and how it was stored. Every key is always
// present on the wire; the Go zero values below are sent as nil.
type EventRecord struct {
	SeqNr int64 `msgpack:"seq_nr"`
	// Tags is sorted without duplicates; [] when none.
	Tags []string `msgpack:"tags"`
	// Payload is []byte, string or a JSON value according to PayloadType.
	Payload any `msgpack:"payload"`
	// PayloadType is nil on the wire when the event has no payload.
	PayloadType PayloadType `msgpack:"payload_type"`
	// Timestamp is the Kafka record's timestamp, milliseconds since the Unix epoch (UTC).
	Timestamp int64 `msgpack:"timestamp"`
	// Partition and Offset are those of the Kafka record that carried the event.
	Partition int32 `msgpack:"partition"`
	Offset    int64 `msgpack:"offset"`
	// Origin identifies the writer (usually a host name); "" (nil) when unknown.
	Origin string `msgpack:"origin"`
	// Version is the writing library's version; "" (nil) when unknown.
	Version string `msgpack:"version"`
	// Metadata is the append's header metadata JSON value; nil when none.
	Metadata any `msgpack:"metadata"`
	// ExpireAfterMs is the append's expire_after_ms; 0 (nil) when none.
	ExpireAfterMs int64 `msgpack:"expire_after_ms"`
	// PayloadMetadata is the append's payload metadata JSON value; nil when none.
	PayloadMetadata any `msgpack:"payload_metadata"`
	// Headers are the Kafka record headers; {} when none.
	Headers map[string]string `msgpack:"headers"`
}

func (m *ReadRequest) RequestID() uint64        { return m.ID }
func (m *ReadRequest) Op() Op                   { return OpRead }
func (m *ReadRequest) Timeout() time.Duration   { return timeout(uint64(m.TimeoutMs)) }
func (m *CreditRequest) RequestID() uint64      { return m.ID }
func (m *CreditRequest) Op() Op                 { return OpCredit }
func (m *CreditRequest) Timeout() time.Duration { return 0 }
func (m *CancelRequest) RequestID() uint64      { return m.ID }
func (m *CancelRequest) Op() Op                 { return OpCancel }
func (m *CancelRequest) Timeout() time.Duration { return 0 }
func (m *ReadEvents) ReplyID() uint64           { return m.ID }
func (m *ReadEnd) ReplyID() uint64              { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *ReadRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *CreditRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *CancelRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *ReadEvents) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *ReadEnd) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *ReadRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpRead, 2+count(m.Topic != "", m.From != 0, m.To != 0, m.Max != 0, m.TimeoutMs != 0))
	e.str("journal")
	e.str(m.Journal)
	if m.Topic != "" {
		e.str("topic")
		e.str(m.Topic)
	}
	if m.From != 0 {
		e.str("from")
		e.int(m.From)
	}
	if m.To != 0 {
		e.str("to")
		e.int(m.To)
	}
	if m.Max != 0 {
		e.str("max")
		e.int(m.Max)
	}
	e.str("credit")
	e.uint(uint64(m.Credit))
	if m.TimeoutMs != 0 {
		e.str("timeout_ms")
		e.uint(uint64(m.TimeoutMs))
	}
}

func decodeRead(f *fields) Request {
	return &ReadRequest{
		ID:        f.id,
		Journal:   f.journal(),
		Topic:     f.topic(),
		From:      f.seqNr("from", false),
		To:        f.seqNr("to", false),
		Max:       int64(f.uint("max", false, 1, MaxSeqNr)),
		Credit:    uint32(f.uint("credit", true, 0, MaxCredit)),
		TimeoutMs: f.timeoutMs(),
	}
}

func (m *CreditRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpCredit, 1)
	e.str("n")
	e.uint(uint64(m.N))
}

func decodeCredit(f *fields) Request {
	return &CreditRequest{ID: idOf(f), N: uint32(f.uint("n", true, 1, MaxCredit))}
}

func (m *CancelRequest) encode(e *enc) { e.requestHeader(m.ID, OpCancel, 0) }

func decodeCancel(f *fields) Request { return &CancelRequest{ID: idOf(f)} }

// idOf returns the id field already validated by DecodeRequest (f.id is 0 for credit and cancel).
func idOf(f *fields) uint64 {
	r, _ := f.get("id")
	id, _ := r.uintIn(1, MaxID)
	return id
}

func (m *ReadEvents) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("events")
	e.arrayLen(len(m.Events))
	for i := range m.Events {
		m.Events[i].encode(e)
	}
}

func (m *ReadEnd) encode(e *enc) {
	e.replyHeader(m.ID, 2)
	e.str("end")
	e.boolean(true)
	e.str("highest_seq_nr")
	e.uintOrNil(uint64(m.HighestSeqNr))
}

func (r *EventRecord) encode(e *enc) {
	e.mapLen(eventRecordKeys)
	r.encodeFields(e)
}

// eventRecordKeys is the number of keys of an event record.
const eventRecordKeys = 13

// encodeFields writes the record's keys and values, without the map header.
func (r *EventRecord) encodeFields(e *enc) {
	e.str("seq_nr")
	e.int(r.SeqNr)
	e.str("tags")
	e.tags(r.Tags)
	e.str("payload")
	if r.PayloadType == PayloadNone && r.Payload != nil {
		e.check(fmt.Errorf("protocol: record %d has a payload but no PayloadType", r.SeqNr))
	}
	e.payload(r.PayloadType, r.Payload)
	e.str("payload_type")
	e.strOrNil(string(r.PayloadType))
	e.str("timestamp")
	e.int(r.Timestamp)
	e.str("partition")
	e.int(int64(r.Partition))
	e.str("offset")
	e.int(r.Offset)
	e.str("origin")
	e.strOrNil(r.Origin)
	e.str("version")
	e.strOrNil(r.Version)
	e.str("metadata")
	e.json(r.Metadata, 0)
	e.str("expire_after_ms")
	e.uintOrNil(uint64(r.ExpireAfterMs))
	e.str("payload_metadata")
	e.json(r.PayloadMetadata, 0)
	e.str("headers")
	e.stringMap(r.Headers)
}

func decodeReadReply(f *fields) Reply {
	switch {
	case f.has("events"):
		return &ReadEvents{ID: f.id, Events: decodeRecords(f)}
	case f.has("end"):
		if !f.boolean("end") {
			f.fail(CodeInvalidArgument, "end", fmt.Errorf("must be true"))
		}
		return &ReadEnd{ID: f.id, End: true, HighestSeqNr: f.seqNr("highest_seq_nr", false)}
	}
	f.fail(CodeInvalidArgument, "events", fmt.Errorf("a read reply has events, end or error"))
	return nil
}

func decodeRecords(f *fields) []EventRecord { return decodeEach(f, decodeRecord) }

// decodeEach decodes the array "events" of f, each element with decode; nil after a failure (in f.err).
func decodeEach[T any](f *fields, decode func(rf *fields) T) []T {
	r, n, ok := f.array("events")
	if !ok {
		return nil
	}
	out := make([]T, 0, n)
	for i := range n {
		m, _, err := r.fieldMap(0)
		if err != nil {
			f.fail(CodeInvalidArgument, fmt.Sprintf("events[%d]", i), err)
			return nil
		}
		rf := eventFields(r.buf, m, f.id, "", i)
		rec := decode(rf)
		if rf.err != nil {
			f.err = rf.err
			return nil
		}
		out = append(out, rec)
	}
	return out
}

// decodeRecord decodes the keys of one event record; rf.err is set when they are not valid.
func decodeRecord(rf *fields) EventRecord {
	rec := EventRecord{SeqNr: rf.seqNr("seq_nr", true)}
	if tr, ok := rf.get("tags"); ok {
		tags, err := tr.stringArray()
		if err != nil {
			rf.fail(CodeInvalidArgument, "tags", err)
		}
		rec.Tags = sortedSet(tags)
	}
	rec.PayloadType, rec.Payload = decodePayload(rf)
	rec.Timestamp = rf.int("timestamp", true, math.MinInt64, math.MaxInt64)
	rec.Partition = int32(rf.uint("partition", true, 0, math.MaxInt32))
	rec.Offset = int64(rf.uint("offset", true, 0, math.MaxInt64))
	rec.Origin = rf.str("origin", false)
	rec.Version = rf.str("version", false)
	rec.Metadata = rf.json("metadata")
	rec.ExpireAfterMs = int64(rf.uint("expire_after_ms", false, 1, math.MaxInt64))
	rec.PayloadMetadata = rf.json("payload_metadata")
	rec.Headers = rf.stringMap("headers")
	return rec
}
