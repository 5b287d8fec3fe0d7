package protocol

import (
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// SnapshotCriteria selects a journal's snapshots: those with seq_nr in [MinSeqNr, MaxSeqNr] and
// timestamp in [MinTimestamp, MaxTimestamp] (Akka's SnapshotSelectionCriteria). Absent keys take the
// widest bound; NewSnapshotCriteria returns the criteria that select every snapshot, and the encoder
// omits a bound equal to its default.
type SnapshotCriteria struct {
	MaxSeqNr     int64 `msgpack:"max_seq_nr,omitempty"`    // 0..MaxSeqNr; default MaxSeqNr
	MaxTimestamp int64 `msgpack:"max_timestamp,omitempty"` // ms since the epoch; default math.MaxInt64
	MinSeqNr     int64 `msgpack:"min_seq_nr,omitempty"`    // 0..MaxSeqNr; default 0
	MinTimestamp int64 `msgpack:"min_timestamp,omitempty"` // ms since the epoch; default math.MinInt64
}

// NewSnapshotCriteria returns the criteria that select every snapshot.
func NewSnapshotCriteria() SnapshotCriteria {
	return SnapshotCriteria{MaxSeqNr: MaxSeqNr, MaxTimestamp: math.MaxInt64, MinTimestamp: math.MinInt64}
}

// Matches reports whether a snapshot with seqNr and timestamp (ms) is selected.
func (c SnapshotCriteria) Matches(seqNr, timestamp int64) bool {
	return seqNr >= c.MinSeqNr && seqNr <= c.MaxSeqNr && timestamp >= c.MinTimestamp && timestamp <= c.MaxTimestamp
}

func (c SnapshotCriteria) keys() int {
	d := NewSnapshotCriteria()
	return count(c.MaxSeqNr != d.MaxSeqNr, c.MaxTimestamp != d.MaxTimestamp, c.MinSeqNr != d.MinSeqNr, c.MinTimestamp != d.MinTimestamp)
}

func (c SnapshotCriteria) encode(e *enc) {
	d := NewSnapshotCriteria()
	for _, b := range []struct {
		key    string
		v, def int64
	}{
		{"max_seq_nr", c.MaxSeqNr, d.MaxSeqNr},
		{"max_timestamp", c.MaxTimestamp, d.MaxTimestamp},
		{"min_seq_nr", c.MinSeqNr, d.MinSeqNr},
		{"min_timestamp", c.MinTimestamp, d.MinTimestamp},
	} {
		if b.v != b.def {
			e.str(b.key)
			e.int(b.v)
		}
	}
}

func decodeCriteria(f *fields) SnapshotCriteria {
	c := NewSnapshotCriteria()
	c.MaxSeqNr = orDefault(f, "max_seq_nr", c.MaxSeqNr, func() int64 { return int64(f.uint("max_seq_nr", false, 0, MaxSeqNr)) })
	c.MaxTimestamp = orDefault(f, "max_timestamp", c.MaxTimestamp, func() int64 { return f.int("max_timestamp", false, math.MinInt64, math.MaxInt64) })
	c.MinSeqNr = orDefault(f, "min_seq_nr", c.MinSeqNr, func() int64 { return int64(f.uint("min_seq_nr", false, 0, MaxSeqNr)) })
	c.MinTimestamp = orDefault(f, "min_timestamp", c.MinTimestamp, func() int64 { return f.int("min_timestamp", false, math.MinInt64, math.MaxInt64) })
	return c
}

// orDefault reads an optional field with read, or returns def when it is absent or nil.
func orDefault(f *fields, name string, def int64, read func() int64) int64 {
	if _, ok := f.get(name); !ok {
		return def
	}
	return read()
}

// SaveSnapshotRequest stores a snapshot of a journal's state at SeqNr, replacing one with the same
// seq_nr.
type SaveSnapshotRequest struct {
	ID      uint64 `msgpack:"id"`
	Journal string `msgpack:"journal"`
	Topic   string `msgpack:"topic,omitempty"`
	// SeqNr is the seq_nr of the last event the snapshot reflects, 1..MaxSeqNr.
	SeqNr       int64       `msgpack:"seq_nr"`
	Payload     any         `msgpack:"payload,omitempty"`
	PayloadType PayloadType `msgpack:"payload_type,omitempty"`
	// Metadata is a JSON value stored with the snapshot; nil: none.
	Metadata any `msgpack:"metadata,omitempty"`
	// Timestamp is the snapshot's time in ms since the epoch when HasTimestamp; otherwise the
	// sidecar's clock at the save.
	Timestamp    int64  `msgpack:"timestamp,omitempty"`
	HasTimestamp bool   `msgpack:"-"`
	TimeoutMs    uint32 `msgpack:"timeout_ms,omitempty"`
}

// SaveSnapshotReply is the stored snapshot's timestamp.
type SaveSnapshotReply struct {
	ID        uint64 `msgpack:"id"`
	Timestamp int64  `msgpack:"timestamp"`
}

// LoadSnapshotRequest asks for the latest snapshot (highest seq_nr) matching the criteria.
type LoadSnapshotRequest struct {
	ID      uint64 `msgpack:"id"`
	Journal string `msgpack:"journal"`
	Topic   string `msgpack:"topic,omitempty"`
	SnapshotCriteria
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// SnapshotRecord is a stored snapshot as the sidecar sends it.
type SnapshotRecord struct {
	SeqNr       int64       `msgpack:"seq_nr"`
	Timestamp   int64       `msgpack:"timestamp"`
	Payload     any         `msgpack:"payload"`
	PayloadType PayloadType `msgpack:"payload_type"`
	Metadata    any         `msgpack:"metadata"`
	Origin      string      `msgpack:"origin"`
	Version     string      `msgpack:"version"`
}

// LoadSnapshotReply is the selected snapshot, nil when none matches.
type LoadSnapshotReply struct {
	ID       uint64          `msgpack:"id"`
	Snapshot *SnapshotRecord `msgpack:"snapshot"`
}

// DeleteSnapshotsRequest deletes the snapshots matching the criteria and, when HasSeqNr, having
// seq_nr SeqNr (Akka's delete of one snapshot, whose timestamp is ignored).
type DeleteSnapshotsRequest struct {
	ID       uint64 `msgpack:"id"`
	Journal  string `msgpack:"journal"`
	Topic    string `msgpack:"topic,omitempty"`
	SeqNr    int64  `msgpack:"seq_nr,omitempty"`
	HasSeqNr bool   `msgpack:"-"`
	SnapshotCriteria
	TimeoutMs uint32 `msgpack:"timeout_ms,omitempty"`
}

// DeleteSnapshotsReply is how many snapshots were deleted.
type DeleteSnapshotsReply struct {
	ID      uint64 `msgpack:"id"`
	Deleted int64  `msgpack:"deleted"`
}

func (m *SaveSnapshotRequest) RequestID() uint64         { return m.ID }
func (m *SaveSnapshotRequest) Op() Op                    { return OpSaveSnapshot }
func (m *SaveSnapshotRequest) Timeout() time.Duration    { return timeout(uint64(m.TimeoutMs)) }
func (m *LoadSnapshotRequest) RequestID() uint64         { return m.ID }
func (m *LoadSnapshotRequest) Op() Op                    { return OpLoadSnapshot }
func (m *LoadSnapshotRequest) Timeout() time.Duration    { return timeout(uint64(m.TimeoutMs)) }
func (m *DeleteSnapshotsRequest) RequestID() uint64      { return m.ID }
func (m *DeleteSnapshotsRequest) Op() Op                 { return OpDeleteSnapshots }
func (m *DeleteSnapshotsRequest) Timeout() time.Duration { return timeout(uint64(m.TimeoutMs)) }
func (m *SaveSnapshotReply) ReplyID() uint64             { return m.ID }
func (m *LoadSnapshotReply) ReplyID() uint64             { return m.ID }
func (m *DeleteSnapshotsReply) ReplyID() uint64          { return m.ID }

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *SaveSnapshotRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *LoadSnapshotRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *DeleteSnapshotsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *SaveSnapshotReply) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *LoadSnapshotReply) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding.
func (m *DeleteSnapshotsReply) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeThrough(e, m.encode)
}

func (m *SaveSnapshotRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpSaveSnapshot, 2+count(m.Topic != "", m.Metadata != nil, m.HasTimestamp, m.TimeoutMs != 0)+
		2*count(m.PayloadType != PayloadNone))
	e.journalTopic(m.Journal, m.Topic)
	e.str("seq_nr")
	e.int(m.SeqNr)
	if m.PayloadType != PayloadNone {
		e.str("payload")
		e.payload(m.PayloadType, m.Payload)
		e.str("payload_type")
		e.str(string(m.PayloadType))
	}
	if m.Metadata != nil {
		e.str("metadata")
		e.json(m.Metadata, 0)
	}
	if m.HasTimestamp {
		e.str("timestamp")
		e.int(m.Timestamp)
	}
	e.timeoutMs(m.TimeoutMs)
}

func decodeSaveSnapshot(f *fields) Request {
	m := &SaveSnapshotRequest{ID: f.id, Journal: f.journal(), Topic: f.topic(), SeqNr: f.seqNr("seq_nr", true)}
	m.PayloadType, m.Payload = decodePayload(f)
	m.Metadata = f.json("metadata")
	if _, ok := f.get("timestamp"); ok {
		m.Timestamp, m.HasTimestamp = f.int("timestamp", true, math.MinInt64, math.MaxInt64), true
	}
	m.TimeoutMs = f.timeoutMs()
	return m
}

func (m *SaveSnapshotReply) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("timestamp")
	e.int(m.Timestamp)
}

func decodeSaveSnapshotReply(f *fields) Reply {
	return &SaveSnapshotReply{ID: f.id, Timestamp: f.int("timestamp", true, math.MinInt64, math.MaxInt64)}
}

func (m *LoadSnapshotRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpLoadSnapshot, 1+count(m.Topic != "", m.TimeoutMs != 0)+m.SnapshotCriteria.keys())
	e.journalTopic(m.Journal, m.Topic)
	m.SnapshotCriteria.encode(e)
	e.timeoutMs(m.TimeoutMs)
}

func decodeLoadSnapshot(f *fields) Request {
	return &LoadSnapshotRequest{ID: f.id, Journal: f.journal(), Topic: f.topic(), SnapshotCriteria: decodeCriteria(f), TimeoutMs: f.timeoutMs()}
}

func (m *LoadSnapshotReply) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("snapshot")
	if m.Snapshot == nil {
		e.nil()
		return
	}
	s := m.Snapshot
	e.mapLen(7)
	e.str("seq_nr")
	e.int(s.SeqNr)
	e.str("timestamp")
	e.int(s.Timestamp)
	e.str("payload")
	e.payload(s.PayloadType, s.Payload)
	e.str("payload_type")
	e.strOrNil(string(s.PayloadType))
	e.str("metadata")
	e.json(s.Metadata, 0)
	e.str("origin")
	e.strOrNil(s.Origin)
	e.str("version")
	e.strOrNil(s.Version)
}

func decodeLoadSnapshotReply(f *fields) Reply {
	if !f.has("snapshot") {
		f.missing("snapshot")
	}
	m := &LoadSnapshotReply{ID: f.id}
	r, ok := f.get("snapshot")
	if !ok {
		return m
	}
	sm, _, err := r.fieldMap(0)
	if err != nil {
		f.fail(CodeInvalidArgument, "snapshot", err)
		return m
	}
	sf := &fields{buf: r.buf, m: sm, path: "snapshot.", id: f.id, event: -1}
	s := &SnapshotRecord{
		SeqNr:     sf.seqNr("seq_nr", true),
		Timestamp: sf.int("timestamp", true, math.MinInt64, math.MaxInt64),
	}
	s.PayloadType, s.Payload = decodePayload(sf)
	s.Metadata = sf.json("metadata")
	s.Origin = sf.str("origin", false)
	s.Version = sf.str("version", false)
	if sf.err != nil {
		f.err = sf.err
		return m
	}
	m.Snapshot = s
	return m
}

func (m *DeleteSnapshotsRequest) encode(e *enc) {
	e.requestHeader(m.ID, OpDeleteSnapshots, 1+count(m.Topic != "", m.HasSeqNr, m.TimeoutMs != 0)+m.SnapshotCriteria.keys())
	e.journalTopic(m.Journal, m.Topic)
	if m.HasSeqNr {
		e.str("seq_nr")
		e.int(m.SeqNr)
	}
	m.SnapshotCriteria.encode(e)
	e.timeoutMs(m.TimeoutMs)
}

func decodeDeleteSnapshots(f *fields) Request {
	m := &DeleteSnapshotsRequest{ID: f.id, Journal: f.journal(), Topic: f.topic()}
	if _, ok := f.get("seq_nr"); ok {
		m.SeqNr, m.HasSeqNr = f.seqNr("seq_nr", true), true
	}
	m.SnapshotCriteria = decodeCriteria(f)
	m.TimeoutMs = f.timeoutMs()
	return m
}

func (m *DeleteSnapshotsReply) encode(e *enc) {
	e.replyHeader(m.ID, 1)
	e.str("deleted")
	e.int(m.Deleted)
}

func decodeDeleteSnapshotsReply(f *fields) Reply {
	return &DeleteSnapshotsReply{ID: f.id, Deleted: int64(f.uint("deleted", true, 0, math.MaxInt64))}
}
