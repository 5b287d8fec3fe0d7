package protocol

import (
	"fmt"
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// SubscribeRequest opens a subscription to a journal: its events from seq_nr From on, first those
// already written (as a read would stream them), then each new one as it is appended. The sidecar
// answers with ReadEvents frames, paced by credit like a read, and never with an end frame: the stream
// ends only with an *Error (CANCELLED after the client's cancel, JOURNAL_PURGED, SHUTTING_DOWN, ...).
type SubscribeRequest struct {
	ID      uint64 `msgpack:"id"`
	Journal string `msgpack:"journal"`
	Topic   string `msgpack:"topic,omitempty"`
	// From is the first seq_nr to deliver, 1..MaxSeqNr; 0 means 1.
	From int64 `msgpack:"from,omitempty"`
	// Credit is the number of events the client can take now, 0..MaxCredit (required on the wire).
	Credit    uint32 `msgpack:"credit"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// The start positions of subscribe_all for partitions without an explicit offset.
const (
	FromEarliest = "earliest"
	FromLatest   = "latest"
)

// SubscribeAllRequest opens a subscription to every event of a topic, partition by partition in offset
// order, each delivered with its journal and its position. The sidecar answers with SubscribeAllEvents
// frames paced by credit, and ends the stream only with an *Error.
type SubscribeAllRequest struct {
	ID    uint64 `msgpack:"id"`
	Topic string `msgpack:"topic,omitempty"`
	// From is where partitions not in Offsets start: FromEarliest (the default, "" here) or FromLatest.
	From string `msgpack:"from,omitempty"`
	// Offsets are explicit start offsets: the first offset to deliver of each partition listed.
	Offsets []PartitionStart `msgpack:"offsets,omitempty"`
	// Credit is the number of events the client can take now, 0..MaxCredit (required on the wire).
	Credit    uint32 `msgpack:"credit"`
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// PartitionStart is the first offset of Partition a subscribe_all delivers.
type PartitionStart struct {
	Partition int32 `msgpack:"partition"`
	Offset    int64 `msgpack:"offset"`
}

// SubscribeAllEvents is one frame of a subscribe_all stream.
type SubscribeAllEvents struct {
	ID     uint64             `msgpack:"id"`
	Events []TopicEventRecord `msgpack:"events"`
}

// TopicEventRecord is an event of a subscribe_all stream: the journal it belongs to, then the keys of
// an EventRecord (whose Partition and Offset are the position to store and resume from).
type TopicEventRecord struct {
	Journal string `msgpack:"journal"`
	EventRecord
}

func (m *SubscribeRequest) RequestID() uint64         { return m.ID }
func (m *SubscribeRequest) Op() Op                    { return OpSubscribe }
func (m *SubscribeRequest) Timeout() time.Duration    { return timeout(uint64(m.TimeoutMs)) }
func (m *SubscribeAllRequest) RequestID() uint64      { return m.ID }
func (m *SubscribeAllRequest) Op() Op                 { return OpSubscribeAll }
func (m *SubscribeAllRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *SubscribeAllEvents) ReplyID() uint64         { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *SubscribeRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *SubscribeAllRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *SubscribeAllEvents) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

func (m *SubscribeRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpSubscribe, 2+count(m.Topic != "", m.From != 0, m.TimeoutMs != 0))
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
	e.str("credit")
	e.uint(uint64(m.Credit))
	e.timeoutMs(m.TimeoutMs)
}

func decodeSubscribe(f *fields) Request {
	return &SubscribeRequest{
		ID:        f.id,
		Journal:   f.journal(),
		Topic:     f.topic(),
		From:      f.seqNr("from", false),
		Credit:    uint32(f.uint("credit", true, 0, MaxCredit)),
		TimeoutMs: f.timeoutMs(),
	}
}

func (m *SubscribeAllRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpSubscribeAll, 1+count(m.Topic != "", m.From != "", len(m.Offsets) > 0, m.TimeoutMs != 0))
	if m.Topic != "" {
		e.str("topic")
		e.str(m.Topic)
	}
	if m.From != "" {
		e.str("from")
		e.str(m.From)
	}
	if len(m.Offsets) > 0 {
		e.str("offsets")
		e.arrayLen(len(m.Offsets))
		for _, o := range m.Offsets {
			e.mapLen(2)
			e.str("partition")
			e.int(int64(o.Partition))
			e.str("offset")
			e.int(o.Offset)
		}
	}
	e.str("credit")
	e.uint(uint64(m.Credit))
	e.timeoutMs(m.TimeoutMs)
}

func decodeSubscribeAll(f *fields) Request {
	m := &SubscribeAllRequest{ID: f.id, Topic: f.topic(), From: f.str("from", false)}
	if f.err == nil && m.From != "" && m.From != FromEarliest && m.From != FromLatest {
		f.fail(CodeInvalidArgument, "from", fmt.Errorf("must be %q or %q, got %q", FromEarliest, FromLatest, m.From))
	}
	m.Offsets = decodeStarts(f)
	m.Credit = uint32(f.uint("credit", true, 0, MaxCredit))
	m.TimeoutMs = f.timeoutMs()
	return m
}

// decodeStarts reads the optional offsets array: maps {partition, offset}, each partition at most once.
func decodeStarts(f *fields) []PartitionStart {
	if _, ok := f.get("offsets"); !ok {
		return nil // nil: absent
	}
	r, n, ok := f.array("offsets")
	if !ok {
		return nil
	}
	out := make([]PartitionStart, 0, n)
	seen := make(map[int32]bool, n)
	for i := range n {
		name := fmt.Sprintf("offsets[%d]", i)
		m, _, err := r.fieldMap(0)
		if err != nil {
			f.fail(CodeInvalidArgument, name, err)
			return nil
		}
		of := &fields{buf: r.buf, m: m, id: f.id, path: name + ".", event: -1}
		s := PartitionStart{
			Partition: int32(of.uint("partition", true, 0, math.MaxInt32)),
			Offset:    int64(of.uint("offset", true, 0, math.MaxInt64)),
		}
		if of.err != nil {
			f.err = of.err
			return nil
		}
		if seen[s.Partition] {
			f.fail(CodeInvalidArgument, name, fmt.Errorf("partition %d is listed twice", s.Partition))
			return nil
		}
		seen[s.Partition] = true
		out = append(out, s)
	}
	return out
}

func (m *SubscribeAllEvents) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("events")
	e.arrayLen(len(m.Events))
	for i := range m.Events {
		e.mapLen(1 + eventRecordKeys)
		e.str("journal")
		e.str(m.Events[i].Journal)
		m.Events[i].encodeFields(e)
	}
}

// decodeSubscribeReply decodes a subscribe frame: events only, a subscription has no end frame.
func decodeSubscribeReply(f *fields) Reply {
	if !f.has("events") {
		f.fail(CodeInvalidArgument, "events", fmt.Errorf("a subscribe reply has events or error"))
		return nil
	}
	return &ReadEvents{ID: f.id, Events: decodeRecords(f)}
}

func decodeSubscribeAllReply(f *fields) Reply {
	events := decodeEach(f, func(rf *fields) TopicEventRecord {
		return TopicEventRecord{Journal: rf.str("journal", true), EventRecord: decodeRecord(rf)}
	})
	return &SubscribeAllEvents{ID: f.id, Events: events}
}
