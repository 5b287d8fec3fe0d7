package protocol

import (
	"fmt"
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// PayloadType says how an event's payload is typed; the empty PayloadType means no payload.
type PayloadType string

// Payload types. On the wire: "binary", "text", "json"; nil (or absent) for no payload.
const (
	PayloadNone   PayloadType = ""
	PayloadBinary PayloadType = "binary" // Payload is []byte (msgpack bin)
	PayloadText   PayloadType = "text"   // Payload is string (msgpack str)
	PayloadJSON   PayloadType = "json"   // Payload is a JSON value (see JSONFromRaw), sent as msgpack values
)

// Event is one event of an append.
//
// On the wire payload_type may be omitted when it follows from the payload's msgpack type (bin:
// binary, str: text, anything else: json); DecodeRequest always fills PayloadType in, and the canonical
// encoding always writes it next to the payload.
type Event struct {
	// SeqNr is 1..MaxSeqNr; the events of one append are in strictly increasing order.
	SeqNr int64 `msgpack:"seq_nr"`
	// Tags is a set: DecodeRequest returns it sorted without duplicates, the encoder writes it so.
	Tags        []string    `msgpack:"tags,omitempty"`
	Payload     any         `msgpack:"payload,omitempty"`
	PayloadType PayloadType `msgpack:"payload_type,omitempty"`
}

// AppendRequest appends events to a journal atomically: they become one Kafka record.
type AppendRequest struct {
	ID uint64 `msgpack:"id"`
	// Journal is the journal id (the Kafka record key), a non-empty string.
	Journal string `msgpack:"journal"`
	// Topic is the Kafka topic, "" for the sidecar's default topic.
	Topic string `msgpack:"topic,omitempty"`
	// Events are at least one event in strictly increasing seq_nr order.
	Events []Event `msgpack:"events"`
	// ExpectedSeqNr, when Conditional, is the highest seq_nr the journal must have for the append to
	// be written (0: no events); otherwise the append fails with WRONG_EXPECTED_SEQ_NR.
	ExpectedSeqNr int64 `msgpack:"expected_seq_nr,omitempty"`
	// Conditional says ExpectedSeqNr is given; it is not a key of its own on the wire.
	Conditional bool `msgpack:"-"`
	// ExpireAfterMs asks the replicator to purge the journal this long after its last append; 0: never.
	ExpireAfterMs int64 `msgpack:"expire_after_ms,omitempty"`
	// Metadata is a JSON value stored in the action header (kafka-journal's HeaderMetadata.data); nil: none.
	Metadata any `msgpack:"metadata,omitempty"`
	// PayloadMetadata is a JSON value stored with the events (kafka-journal's PayloadMetadata.data); nil: none.
	PayloadMetadata any `msgpack:"payload_metadata,omitempty"`
	// Headers are Kafka record headers added to the record.
	Headers   map[string]string `msgpack:"headers,omitempty"`
	TimeoutMs uint32            `msgpack:"timeout_ms,omitempty"`
}

// AppendReply is where Kafka stored the append's record.
type AppendReply struct {
	ID        uint64 `msgpack:"id"`
	Partition int32  `msgpack:"partition"`
	Offset    int64  `msgpack:"offset"`
}

func (m *AppendRequest) RequestID() uint64      { return m.ID }
func (m *AppendRequest) Op() Op                 { return OpAppend }
func (m *AppendRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *AppendReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *AppendRequest) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *AppendReply) EncodeMsgpack(e *msgpack.Encoder) error { return encodeThrough(e, m.encode) }

func (m *AppendRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpAppend, 2+count(m.Topic != "", m.Conditional, m.ExpireAfterMs != 0, m.Metadata != nil,
		m.PayloadMetadata != nil, len(m.Headers) > 0, m.TimeoutMs != 0))
	e.str("journal")
	e.str(m.Journal)
	if m.Topic != "" {
		e.str("topic")
		e.str(m.Topic)
	}
	e.str("events")
	e.arrayLen(len(m.Events))
	for i := range m.Events {
		m.Events[i].encode(e)
	}
	if m.Conditional {
		e.str("expected_seq_nr")
		e.int(m.ExpectedSeqNr)
	}
	if m.ExpireAfterMs != 0 {
		e.str("expire_after_ms")
		e.int(m.ExpireAfterMs)
	}
	if m.Metadata != nil {
		e.str("metadata")
		e.json(m.Metadata, 0)
	}
	if m.PayloadMetadata != nil {
		e.str("payload_metadata")
		e.json(m.PayloadMetadata, 0)
	}
	if len(m.Headers) > 0 {
		e.str("headers")
		e.stringMap(m.Headers)
	}
	if m.TimeoutMs != 0 {
		e.str("timeout_ms")
		e.uint(uint64(m.TimeoutMs))
	}
}

func (ev *Event) encode(e *enc) {
	tags := sortedSet(ev.Tags)
	e.mapLen(1 + count(len(tags) > 0) + 2*count(ev.PayloadType != PayloadNone))
	e.str("seq_nr")
	e.int(ev.SeqNr)
	if len(tags) > 0 {
		e.str("tags")
		e.tags(tags)
	}
	if ev.PayloadType != PayloadNone {
		e.str("payload")
		e.payload(ev.PayloadType, ev.Payload)
		e.str("payload_type")
		e.str(string(ev.PayloadType))
	} else if ev.Payload != nil {
		e.check(fmt.Errorf("protocol: event %d has a payload but no PayloadType", ev.SeqNr))
	}
}

// payload writes a typed payload value; nil writes nil (no payload, or JSON null for PayloadJSON).
func (e *enc) payload(pt PayloadType, v any) {
	switch pt {
	case PayloadNone:
		e.nil()
	case PayloadBinary:
		b, ok := v.([]byte)
		if !ok {
			e.check(fmt.Errorf("protocol: binary payload must be []byte, not %T", v))
			return
		}
		e.bin(b)
	case PayloadText:
		s, ok := v.(string)
		if !ok {
			e.check(fmt.Errorf("protocol: text payload must be string, not %T", v))
			return
		}
		e.str(s)
	case PayloadJSON:
		e.json(v, 0)
	default:
		e.check(fmt.Errorf("protocol: unknown payload type %q", pt))
	}
}

func decodeAppend(f *fields) Request {
	var m *AppendRequest
	if d := f.reuse; d != nil {
		m = &d.app
		*m = AppendRequest{ID: f.id, Events: d.app.Events[:0]}
	} else {
		m = &AppendRequest{ID: f.id}
	}
	m.Journal = f.journal()
	m.Topic = f.topic()
	m.Events = decodeEvents(f, m.Events)
	if _, ok := f.get("expected_seq_nr"); ok {
		m.ExpectedSeqNr, m.Conditional = int64(f.uint("expected_seq_nr", true, 0, MaxSeqNr)), true
	}
	m.ExpireAfterMs = int64(f.uint("expire_after_ms", false, 1, MaxSafeInt))
	m.Metadata = f.json("metadata")
	m.PayloadMetadata = f.json("payload_metadata")
	m.Headers = f.stringMap("headers")
	m.TimeoutMs = f.timeoutMs()
	return m
}

// decodeEvents decodes the events into dst's array when they fit.
func decodeEvents(f *fields, dst []Event) []Event {
	r, n, ok := f.array("events")
	if !ok {
		return nil
	}
	if n == 0 {
		f.fail(CodeEmptyEvents, "events", errEmpty)
		return nil
	}
	events := dst[:0]
	if cap(events) < n {
		events = make([]Event, 0, n)
	}
	for i := range n {
		ef, err := f.elementFields(r, i)
		if err != nil {
			f.fail(CodeInvalidArgument, fmt.Sprintf("events[%d]", i), err)
			return nil
		}
		ev := Event{SeqNr: ef.seqNr("seq_nr", true)}
		if tr, ok := ef.get("tags"); ok {
			tags, err := tr.stringArray()
			if err != nil {
				ef.fail(CodeInvalidArgument, "tags", err)
			}
			ev.Tags = sortedSet(tags)
		}
		ev.PayloadType, ev.Payload = decodePayload(ef)
		if ef.err == nil && i > 0 && ev.SeqNr <= events[i-1].SeqNr {
			ef.fail(CodeInvalidSeqNr, "seq_nr", fmt.Errorf("%d does not follow %d: events must be in strictly increasing seq_nr order",
				ev.SeqNr, events[i-1].SeqNr))
		}
		if ef.err != nil {
			f.err = ef.err
			return nil
		}
		events = append(events, ev)
	}
	return events
}

// decodePayload applies the payload typing rules to an event's payload and payload_type.
func decodePayload(f *fields) (PayloadType, any) {
	var pt PayloadType
	switch b := f.strBytes("payload_type"); string(b) { // constants: no string per event
	case "":
	case string(PayloadBinary):
		pt = PayloadBinary
	case string(PayloadText):
		pt = PayloadText
	case string(PayloadJSON):
		pt = PayloadJSON
	default:
		f.fail(CodeInvalidArgument, "payload_type", fmt.Errorf("%q is not binary, text or json", b))
		return PayloadNone, nil
	}
	if f.err != nil {
		return PayloadNone, nil
	}
	r, ok := f.get("payload")
	if f.err != nil {
		return PayloadNone, nil
	}
	if !ok {
		switch pt {
		case PayloadBinary, PayloadText:
			f.fail(CodeInvalidArgument, "payload", fmt.Errorf("payload_type %s needs a payload", pt))
		}
		return pt, nil // none, or JSON null
	}
	k, _, _ := r.peek()
	if pt == PayloadNone {
		switch k {
		case kindBin:
			pt = PayloadBinary
		case kindStr:
			pt = PayloadText
		default:
			pt = PayloadJSON
		}
	}
	var (
		v   any
		err error
	)
	switch pt {
	case PayloadBinary:
		if f.reuse != nil {
			v, err = r.binAlias()
		} else {
			v, err = r.bin()
		}
	case PayloadText:
		v, err = r.str()
	case PayloadJSON:
		if k == kindBin {
			err = fmt.Errorf("a binary payload cannot have payload_type json")
		} else {
			v, err = r.json(0)
		}
	}
	if err != nil {
		f.fail(CodeInvalidArgument, "payload", err)
		return PayloadNone, nil
	}
	return pt, v
}

func (m *AppendReply) encode(e *enc) {
	e.replyHeader(m.ID, 2)
	e.str("partition")
	e.int(int64(m.Partition))
	e.str("offset")
	e.int(m.Offset)
}

func decodeAppendReply(f *fields) Reply {
	return &AppendReply{
		ID:        f.id,
		Partition: int32(f.uint("partition", true, 0, math.MaxInt32)),
		Offset:    int64(f.uint("offset", true, 0, math.MaxInt64)),
	}
}
