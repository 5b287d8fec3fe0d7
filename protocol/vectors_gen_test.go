package protocol_test

import (
	"bytes"
	"math"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
)

// The definitions testdata/vectors.json is generated from (go test ./protocol -run TestVectors -update).
// Messages are written by the package's encoders (canonical vectors) or by hand with the msgpack
// library's primitives (non-canonical and invalid ones); each vector's "decoded" meaning is computed
// from the bytes by a generic msgpack decoder, not by this package. After regenerating, review the
// diff: the file is the contract the Python and Node clients are tested against.

type vectorDef struct {
	name      string
	direction string // "request" or "reply"
	op        protocol.Op
	note      string
	msg       any    // protocol.Request or protocol.Reply: a canonical vector
	body      []byte // hand-built body: a non-canonical vector
}

type invalidDef struct {
	name    string
	note    string
	body    []byte
	code    protocol.Code
	replyID uint64
}

type frameDef struct {
	name          string
	note          string
	frame         []byte
	maxFrameBytes int
	code          protocol.Code // 0: the connection just ends (no error frame can be sent)
}

// w builds a body with the library's primitive encoders, for bytes our encoder would never write.
type w struct {
	buf bytes.Buffer
	e   *msgpack.Encoder
}

func build(fn func(b *w)) []byte {
	b := &w{}
	b.e = msgpack.NewEncoder(&b.buf)
	fn(b)
	return b.buf.Bytes()
}

func (b *w) m(n int) *w       { must(b.e.EncodeMapLen(n)); return b }
func (b *w) a(n int) *w       { must(b.e.EncodeArrayLen(n)); return b }
func (b *w) s(s string) *w    { must(b.e.EncodeString(s)); return b }
func (b *w) u(v uint64) *w    { must(b.e.EncodeUint(v)); return b }
func (b *w) i(v int64) *w     { must(b.e.EncodeInt(v)); return b }
func (b *w) bin(v []byte) *w  { must(b.e.EncodeBytes(v)); return b }
func (b *w) nil() *w          { must(b.e.EncodeNil()); return b }
func (b *w) t(v bool) *w      { must(b.e.EncodeBool(v)); return b }
func (b *w) f64(v float64) *w { must(b.e.EncodeFloat64(v)); return b }
func (b *w) f32(v float32) *w { must(b.e.EncodeFloat32(v)); return b }
func (b *w) raw(p ...byte) *w { b.buf.Write(p); return b }
func (b *w) kv(k string) *w   { return b.s(k) }
func (b *w) hdr(id uint64, op string, n int) *w {
	return b.m(n + 2).kv("id").u(id).kv("op").s(op)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// req is a request header with n more keys to follow.
func req(id uint64, op string, n int, rest func(b *w)) []byte {
	return build(func(b *w) { b.hdr(id, op, n); rest(b) })
}

// appendOne is an append of one event given as a map with n keys.
func appendOne(id uint64, n int, event func(b *w)) []byte {
	return req(id, "append", 2, func(b *w) {
		b.kv("journal").s("j").kv("events").a(1).m(n)
		event(b)
	})
}

func nested(depth int) []byte {
	return appendOne(40, 3, func(b *w) {
		b.kv("seq_nr").u(1).kv("payload_type").s("json").kv("payload")
		for range depth {
			b.a(1)
		}
		b.u(0)
	})
}

var record1 = protocol.EventRecord{
	SeqNr: 1, Tags: []string{"a", "b"}, PayloadType: protocol.PayloadJSON,
	Payload:   map[string]any{"amount": int64(100), "currency": "EUR", "items": []any{"x", int64(-1), 2.5, true, nil}},
	Timestamp: 1764090000123, Partition: 3, Offset: 1000,
	Origin: "host-1", Version: "kjournal/0.1.0",
	Metadata: map[string]any{"trace": "abc"}, ExpireAfterMs: 86400000,
	PayloadMetadata: map[string]any{"schema": int64(2)}, Headers: map[string]string{"h1": "v1", "a": "b"},
}

var vectorDefs = []vectorDef{
	// Requests.
	{name: "hello", direction: "request", op: protocol.OpHello,
		msg: &protocol.HelloRequest{ID: 1, Versions: []uint32{1}, Client: "kjournal-python/0.1.0"}},
	{name: "hello-versions", direction: "request", op: protocol.OpHello, note: "a client speaking versions 1 and 2, without a client name",
		msg: &protocol.HelloRequest{ID: 1, Versions: []uint32{2, 1}}},
	{name: "append-full", direction: "request", op: protocol.OpAppend, note: "every append field; event 1 json, event 2 binary with a tag",
		msg: &protocol.AppendRequest{ID: 2, Journal: "order-42", Topic: "journal", Events: []protocol.Event{
			{SeqNr: 1, PayloadType: protocol.PayloadJSON, Payload: map[string]any{"a": int64(1)}},
			{SeqNr: 2, Tags: []string{"t"}, PayloadType: protocol.PayloadBinary, Payload: []byte{0}},
		}, ExpireAfterMs: 86400000, Metadata: map[string]any{"k": "v"}, PayloadMetadata: map[string]any{"p": true},
			Headers: map[string]string{"h": "v"}, TimeoutMs: 5000}},
	{name: "append-minimal", direction: "request", op: protocol.OpAppend, note: "one event without payload or tags, default topic",
		msg: &protocol.AppendRequest{ID: 3, Journal: "j", Events: []protocol.Event{{SeqNr: 1}}}},
	{name: "append-payload-kinds", direction: "request", op: protocol.OpAppend, note: "text, json string, json array, json integer, json float, json null, empty binary, json uint64 and int64 extremes",
		msg: &protocol.AppendRequest{ID: 4, Journal: "j", Events: []protocol.Event{
			{SeqNr: 1, PayloadType: protocol.PayloadText, Payload: "hello"},
			{SeqNr: 2, PayloadType: protocol.PayloadJSON, Payload: "a JSON string"},
			{SeqNr: 3, PayloadType: protocol.PayloadJSON, Payload: []any{int64(1), "x", nil, true, 1.5}},
			{SeqNr: 4, PayloadType: protocol.PayloadJSON, Payload: int64(42)},
			{SeqNr: 5, PayloadType: protocol.PayloadJSON, Payload: -0.25},
			{SeqNr: 6, PayloadType: protocol.PayloadJSON, Payload: nil},
			{SeqNr: 7, PayloadType: protocol.PayloadBinary, Payload: []byte{}},
			{SeqNr: 8, PayloadType: protocol.PayloadJSON, Payload: []any{uint64(math.MaxUint64), int64(math.MinInt64), int64(1 << 53)}},
		}}},
	{name: "append-seq-nr-max", direction: "request", op: protocol.OpAppend, note: "seq_nr 2^63-1, the largest",
		msg: &protocol.AppendRequest{ID: 5, Journal: "j", Events: []protocol.Event{{SeqNr: math.MaxInt64, PayloadType: protocol.PayloadText, Payload: "last"}}}},
	{name: "append-inferred-types", direction: "request", op: protocol.OpAppend,
		note: "non-canonical: payload_type omitted, inferred from the msgpack type (bin: binary, str: text, map: json, nil: no payload)",
		body: req(6, "append", 2, func(b *w) {
			b.kv("journal").s("j").kv("events").a(4)
			b.m(2).kv("seq_nr").u(1).kv("payload").bin([]byte{1, 2, 3})
			b.m(2).kv("seq_nr").u(2).kv("payload").s("text")
			b.m(2).kv("seq_nr").u(3).kv("payload").m(1).kv("x").u(1)
			b.m(2).kv("seq_nr").u(4).kv("payload").nil()
		})},
	{name: "append-loose-encoding", direction: "request", op: protocol.OpAppend,
		note: "non-canonical: keys out of order, an unknown key (ignored), nil optional fields, id as uint32, seq_nrs as int64 and uint64, duplicate and unsorted tags, float32 in JSON",
		body: build(func(b *w) {
			b.m(7).kv("events").a(2)
			b.m(3).kv("tags").a(3).s("b").s("a").s("b").kv("seq_nr").raw(0xd3, 0, 0, 0, 0, 0, 0, 0, 1).kv("payload").f32(0.5)
			b.m(1).kv("seq_nr").raw(0xcf, 0, 0, 0, 0, 0, 0, 0, 2)
			b.kv("future_field").m(1).kv("x").a(0)
			b.kv("op").s("append")
			b.kv("topic").nil()
			b.kv("journal").s("j")
			b.kv("timeout_ms").nil()
			b.kv("id").raw(0xce, 0, 0, 0, 7)
		})},
	{name: "read-minimal", direction: "request", op: protocol.OpRead, note: "from 1 to the end, no limit, 100 events of initial credit",
		msg: &protocol.ReadRequest{ID: 8, Journal: "order-42", Credit: 100}},
	{name: "read-full", direction: "request", op: protocol.OpRead,
		msg: &protocol.ReadRequest{ID: 9, Journal: "order-42", Topic: "journal", From: 5, To: math.MaxInt64, Max: 1000, Credit: 0, TimeoutMs: 60000}},
	{name: "credit", direction: "request", op: protocol.OpCredit, note: "grants 100 more events to read stream 8; no reply",
		msg: &protocol.CreditRequest{ID: 8, N: 100}},
	{name: "cancel", direction: "request", op: protocol.OpCancel, note: "stops read stream 8, which ends with CANCELLED",
		msg: &protocol.CancelRequest{ID: 8}},
	{name: "pointer", direction: "request", op: protocol.OpPointer,
		msg: &protocol.PointerRequest{ID: 10, Journal: "order-42"}},
	{name: "delete", direction: "request", op: protocol.OpDelete, note: "delete everything: to is clamped to the journal's last seq_nr",
		msg: &protocol.DeleteRequest{ID: 11, Journal: "order-42", Topic: "journal", To: math.MaxInt64, TimeoutMs: 1000}},
	{name: "purge", direction: "request", op: protocol.OpPurge,
		msg: &protocol.PurgeRequest{ID: 12, Journal: "order-42"}},
	{name: "ping", direction: "request", op: protocol.OpPing,
		msg: &protocol.PingRequest{ID: 13}},
	{name: "ping-max-id", direction: "request", op: protocol.OpPing, note: "the largest id, 2^53-1, with a timeout",
		msg: &protocol.PingRequest{ID: protocol.MaxID, TimeoutMs: 100}},
	{name: "subscribe-minimal", direction: "request", op: protocol.OpSubscribe, note: "from seq_nr 1, 100 events of initial credit",
		msg: &protocol.SubscribeRequest{ID: 14, Journal: "order-42", Credit: 100}},
	{name: "subscribe-full", direction: "request", op: protocol.OpSubscribe, note: "resume after seq_nr 41, start paused",
		msg: &protocol.SubscribeRequest{ID: 15, Journal: "order-42", Topic: "journal", From: 42, Credit: 0, TimeoutMs: 10000}},
	{name: "subscribe-all-minimal", direction: "request", op: protocol.OpSubscribeAll, note: "the default topic from the oldest record of every partition",
		msg: &protocol.SubscribeAllRequest{ID: 16, Credit: 256}},
	{name: "subscribe-all-resume", direction: "request", op: protocol.OpSubscribeAll, note: "stored positions for partitions 0 and 3, the others from latest",
		msg: &protocol.SubscribeAllRequest{ID: 17, Topic: "journal", From: protocol.FromLatest, Offsets: []protocol.PartitionStart{{Partition: 0, Offset: 1001}, {Partition: 3, Offset: 1 << 40}}, Credit: 256, TimeoutMs: 10000}},

	{name: "append-expected-seq-nr", direction: "request", op: protocol.OpAppend, note: "a conditional append: written only if the journal's highest seq_nr is 2",
		msg: &protocol.AppendRequest{ID: 14, Journal: "order-42", Events: []protocol.Event{{SeqNr: 3, PayloadType: protocol.PayloadText, Payload: "c"}}, ExpectedSeqNr: 2, Conditional: true}},
	{name: "append-expected-new-journal", direction: "request", op: protocol.OpAppend, note: "expected_seq_nr 0: only if the journal has no events",
		msg: &protocol.AppendRequest{ID: 15, Journal: "j", Events: []protocol.Event{{SeqNr: 1}}, Conditional: true}},
	{name: "save-snapshot-full", direction: "request", op: protocol.OpSaveSnapshot, note: "every save_snapshot field",
		msg: &protocol.SaveSnapshotRequest{ID: 16, Journal: "order-42", Topic: "journal", SeqNr: 15, PayloadType: protocol.PayloadJSON,
			Payload: map[string]any{"total": int64(3)}, Metadata: map[string]any{"m": "x"}, Timestamp: 1764090000123, HasTimestamp: true, TimeoutMs: 5000}},
	{name: "save-snapshot-minimal", direction: "request", op: protocol.OpSaveSnapshot, note: "a binary snapshot; the sidecar's clock sets the timestamp",
		msg: &protocol.SaveSnapshotRequest{ID: 17, Journal: "j", SeqNr: 1, PayloadType: protocol.PayloadBinary, Payload: []byte{1, 2}}},
	{name: "load-snapshot-latest", direction: "request", op: protocol.OpLoadSnapshot, note: "no criteria: the snapshot with the highest seq_nr",
		msg: &protocol.LoadSnapshotRequest{ID: 18, Journal: "order-42", SnapshotCriteria: protocol.NewSnapshotCriteria()}},
	{name: "load-snapshot-criteria", direction: "request", op: protocol.OpLoadSnapshot, note: "every criterion; a negative min_timestamp",
		msg: &protocol.LoadSnapshotRequest{ID: 19, Journal: "order-42", Topic: "journal", SnapshotCriteria: protocol.SnapshotCriteria{
			MaxSeqNr: 13, MaxTimestamp: 1764090000123, MinSeqNr: 2, MinTimestamp: -1}, TimeoutMs: 1000}},
	{name: "delete-snapshots-seq-nr", direction: "request", op: protocol.OpDeleteSnapshots, note: "delete the snapshot with seq_nr 13, whatever its timestamp",
		msg: &protocol.DeleteSnapshotsRequest{ID: 20, Journal: "order-42", SeqNr: 13, HasSeqNr: true, SnapshotCriteria: protocol.NewSnapshotCriteria()}},
	{name: "delete-snapshots-criteria", direction: "request", op: protocol.OpDeleteSnapshots, note: "delete the snapshots up to seq_nr 13 taken at or before the timestamp",
		msg: &protocol.DeleteSnapshotsRequest{ID: 21, Journal: "order-42", SnapshotCriteria: protocol.SnapshotCriteria{
			MaxSeqNr: 13, MaxTimestamp: 1764090000123, MinTimestamp: math.MinInt64}}},
	{name: "load-snapshot-loose-encoding", direction: "request", op: protocol.OpLoadSnapshot,
		note: "non-canonical: nil criteria (absent), a default bound written out, keys out of order",
		body: build(func(b *w) {
			b.m(6).kv("min_seq_nr").u(0).kv("max_timestamp").nil().kv("journal").s("j").kv("max_seq_nr").u(7)
			b.kv("op").s("load_snapshot").kv("id").u(22)
		})},

	// Replies.
	{name: "hello-reply", direction: "reply", op: protocol.OpHello,
		msg: &protocol.HelloReply{ID: 1, Version: 1, Server: "kjournal/0.1.0", MaxFrameBytes: protocol.DefaultMaxFrameBytes, MaxInFlight: 256, DefaultTopic: "journal", DefaultTimeoutMs: 30000}},
	{name: "append-reply", direction: "reply", op: protocol.OpAppend,
		msg: &protocol.AppendReply{ID: 2, Partition: 3, Offset: 12345}},
	{name: "read-events", direction: "reply", op: protocol.OpRead, note: "a json event with every record field set, then binary, text, json string and no-payload events with the optional fields nil",
		msg: &protocol.ReadEvents{ID: 8, Events: []protocol.EventRecord{
			record1,
			{SeqNr: 2, PayloadType: protocol.PayloadBinary, Payload: []byte{0xde, 0xad, 0xbe, 0xef}, Timestamp: 1764090000124, Partition: 3, Offset: 1001},
			{SeqNr: 3, PayloadType: protocol.PayloadText, Payload: "hello", Timestamp: 1764090000125, Partition: 3, Offset: 1002, Origin: "host-1"},
			{SeqNr: 4, PayloadType: protocol.PayloadJSON, Payload: "a JSON string", Timestamp: 1764090000126, Partition: 3, Offset: 1003},
			{SeqNr: 5, Timestamp: 1764090000127, Partition: 3, Offset: 1004},
		}}},
	{name: "read-events-seq-nr-max", direction: "reply", op: protocol.OpRead,
		msg: &protocol.ReadEvents{ID: 8, Events: []protocol.EventRecord{{SeqNr: math.MaxInt64, PayloadType: protocol.PayloadJSON, Payload: map[string]any{}, Timestamp: 0, Partition: 0, Offset: 0}}}},
	{name: "read-end", direction: "reply", op: protocol.OpRead, note: "the stream's last frame: the journal's highest seq_nr as of the read's Mark",
		msg: &protocol.ReadEnd{ID: 8, End: true, HighestSeqNr: 5}},
	{name: "read-end-empty-journal", direction: "reply", op: protocol.OpRead,
		msg: &protocol.ReadEnd{ID: 9, End: true}},
	{name: "pointer-reply", direction: "reply", op: protocol.OpPointer,
		msg: &protocol.PointerReply{ID: 10, SeqNr: 42}},
	{name: "pointer-reply-none", direction: "reply", op: protocol.OpPointer,
		msg: &protocol.PointerReply{ID: 10}},
	{name: "delete-reply", direction: "reply", op: protocol.OpDelete,
		msg: &protocol.DeleteReply{ID: 11, Deleted: true, Partition: 3, Offset: 12346}},
	{name: "delete-reply-nothing", direction: "reply", op: protocol.OpDelete, note: "the journal had no events: nothing was written",
		msg: &protocol.DeleteReply{ID: 11}},
	{name: "purge-reply", direction: "reply", op: protocol.OpPurge,
		msg: &protocol.PurgeReply{ID: 12, Partition: 3, Offset: 12347}},
	{name: "ping-reply", direction: "reply", op: protocol.OpPing,
		msg: &protocol.PingReply{ID: 13}},
	{name: "save-snapshot-reply", direction: "reply", op: protocol.OpSaveSnapshot, note: "the stored snapshot's timestamp",
		msg: &protocol.SaveSnapshotReply{ID: 16, Timestamp: 1764090000123}},
	{name: "load-snapshot-reply", direction: "reply", op: protocol.OpLoadSnapshot,
		msg: &protocol.LoadSnapshotReply{ID: 18, Snapshot: &protocol.SnapshotRecord{SeqNr: 15, Timestamp: 1764090000123,
			PayloadType: protocol.PayloadJSON, Payload: map[string]any{"total": int64(3)}, Metadata: map[string]any{"m": "x"},
			Origin: "host-1", Version: "kjournal-0.1.0"}}},
	{name: "load-snapshot-reply-text", direction: "reply", op: protocol.OpLoadSnapshot, note: "a text snapshot without metadata, origin or version",
		msg: &protocol.LoadSnapshotReply{ID: 18, Snapshot: &protocol.SnapshotRecord{SeqNr: 1, Timestamp: 0, PayloadType: protocol.PayloadText, Payload: "s-1"}}},
	{name: "load-snapshot-reply-none", direction: "reply", op: protocol.OpLoadSnapshot, note: "no snapshot matches",
		msg: &protocol.LoadSnapshotReply{ID: 19}},
	{name: "delete-snapshots-reply", direction: "reply", op: protocol.OpDeleteSnapshots,
		msg: &protocol.DeleteSnapshotsReply{ID: 20, Deleted: 1}},
	{name: "error-wrong-expected-seq-nr", direction: "reply", op: protocol.OpAppend, note: "the error object carries the journal's actual highest seq_nr",
		msg: &protocol.Error{ID: 14, Code: protocol.CodeWrongExpectedSeqNr, Message: "order-42: expected seq_nr 2, the journal's highest is 5", HighestSeqNr: 5}},
	{name: "error-wrong-expected-seq-nr-empty", direction: "reply", op: protocol.OpAppend, note: "highest_seq_nr 0: the journal has no events",
		msg: &protocol.Error{ID: 14, Code: protocol.CodeWrongExpectedSeqNr, Message: "order-42: expected seq_nr 2, the journal has no events"}},
	{name: "subscribe-events", direction: "reply", op: protocol.OpSubscribe, note: "a subscription's frames are read events frames; it has no end frame",
		msg: &protocol.ReadEvents{ID: 14, Events: []protocol.EventRecord{record1}}},
	{name: "subscribe-all-events", direction: "reply", op: protocol.OpSubscribeAll, note: "each record names its journal; partition and offset are the position to store",
		msg: &protocol.SubscribeAllEvents{ID: 16, Events: []protocol.TopicEventRecord{
			{Journal: "order-42", EventRecord: record1},
			{Journal: "order-7", EventRecord: protocol.EventRecord{SeqNr: 3, PayloadType: protocol.PayloadText, Payload: "hello", Timestamp: 1764090000125, Partition: 0, Offset: 1001}},
		}}},
	{name: "error-journal-purged", direction: "reply", op: protocol.OpSubscribe, note: "the end of subscription 14: the journal was purged",
		msg: protocol.NewError(14, protocol.CodeJournalPurged, "journal:order-42 purged at 3:1100")},
	{name: "error-timeout", direction: "reply", op: protocol.OpAppend,
		msg: protocol.NewError(2, protocol.CodeTimeout, "append order-42: no acknowledgement from Kafka within 5000 ms")},
	{name: "error-cancelled", direction: "reply", op: protocol.OpRead, note: "the end of read stream 8 after cancel",
		msg: protocol.NewError(8, protocol.CodeCancelled, "cancelled")},
	{name: "error-connection", direction: "reply", op: protocol.OpHello, note: "id 0: about the connection, not a request",
		msg: protocol.NewError(0, protocol.CodeBadFrame, "frame body is not a msgpack map")},
}

var invalidDefs = []invalidDef{
	{name: "empty-body", body: []byte{}, code: protocol.CodeBadFrame},
	{name: "not-a-map", body: build(func(b *w) { b.a(1).u(1) }), code: protocol.CodeBadFrame},
	{name: "trailing-bytes", body: append(build(func(b *w) { b.hdr(1, "ping", 0) }), 0xc0), code: protocol.CodeBadFrame},
	{name: "truncated-map", body: build(func(b *w) { b.m(3).kv("id").u(1).kv("op").s("ping") }), code: protocol.CodeBadFrame},
	{name: "never-used-code", note: "0xc1 is not msgpack", body: build(func(b *w) { b.m(1).kv("id").raw(0xc1) }), code: protocol.CodeBadFrame},
	{name: "integer-key", body: build(func(b *w) { b.m(1).u(1).u(1) }), code: protocol.CodeBadFrame},
	{name: "duplicate-key", body: build(func(b *w) { b.m(3).kv("id").u(1).kv("op").s("ping").kv("id").u(2) }), code: protocol.CodeBadFrame},
	{name: "huge-array-claim", note: "an array32 header claiming 2^31-1 elements in a 13-byte body: must fail before allocating",
		body: build(func(b *w) { b.m(1).kv("events").raw(0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0) }), code: protocol.CodeBadFrame},
	{name: "huge-map-claim", body: build(func(b *w) { b.raw(0xdf, 0xff, 0xff, 0xff, 0xff).kv("id") }), code: protocol.CodeBadFrame},
	{name: "huge-string-claim", body: build(func(b *w) { b.m(1).kv("journal").raw(0xdb, 0xff, 0xff, 0xff, 0xff, 'j') }), code: protocol.CodeBadFrame},
	{name: "missing-id", body: build(func(b *w) { b.m(1).kv("op").s("ping") }), code: protocol.CodeInvalidID},
	{name: "id-zero", body: req(0, "ping", 0, func(*w) {}), code: protocol.CodeInvalidID},
	{name: "id-too-large", note: "2^53", body: req(1<<53, "ping", 0, func(*w) {}), code: protocol.CodeInvalidID},
	{name: "id-negative", body: build(func(b *w) { b.m(2).kv("id").i(-1).kv("op").s("ping") }), code: protocol.CodeInvalidID},
	{name: "id-string", body: build(func(b *w) { b.m(2).kv("id").s("1").kv("op").s("ping") }), code: protocol.CodeInvalidID},
	{name: "id-float", body: build(func(b *w) { b.m(2).kv("id").f64(1).kv("op").s("ping") }), code: protocol.CodeInvalidID},
	{name: "missing-op", body: build(func(b *w) { b.m(1).kv("id").u(20) }), code: protocol.CodeUnknownOp, replyID: 20},
	{name: "unknown-op", body: req(21, "fly", 0, func(*w) {}), code: protocol.CodeUnknownOp, replyID: 21},
	{name: "op-not-string", body: build(func(b *w) { b.m(2).kv("id").u(22).kv("op").u(1) }), code: protocol.CodeUnknownOp, replyID: 22},
	{name: "hello-no-versions", body: req(23, "hello", 0, func(*w) {}), code: protocol.CodeInvalidArgument, replyID: 23},
	{name: "hello-empty-versions", body: req(23, "hello", 1, func(b *w) { b.kv("versions").a(0) }), code: protocol.CodeInvalidArgument, replyID: 23},
	{name: "append-seq-nr-zero", body: appendOne(24, 1, func(b *w) { b.kv("seq_nr").u(0) }), code: protocol.CodeInvalidSeqNr, replyID: 24},
	{name: "append-seq-nr-negative", body: appendOne(24, 1, func(b *w) { b.kv("seq_nr").i(-1) }), code: protocol.CodeInvalidSeqNr, replyID: 24},
	{name: "append-seq-nr-2^63", body: appendOne(24, 1, func(b *w) { b.kv("seq_nr").u(1 << 63) }), code: protocol.CodeInvalidSeqNr, replyID: 24},
	{name: "append-seq-nr-string", body: appendOne(24, 1, func(b *w) { b.kv("seq_nr").s("1") }), code: protocol.CodeInvalidArgument, replyID: 24},
	{name: "append-seq-nr-float", body: appendOne(24, 1, func(b *w) { b.kv("seq_nr").f64(1) }), code: protocol.CodeInvalidArgument, replyID: 24},
	{name: "append-seq-nr-missing", body: appendOne(24, 1, func(b *w) { b.kv("tags").a(0) }), code: protocol.CodeInvalidArgument, replyID: 24},
	{name: "append-not-increasing", body: req(25, "append", 2, func(b *w) {
		b.kv("journal").s("j").kv("events").a(2).m(1).kv("seq_nr").u(2).m(1).kv("seq_nr").u(1)
	}), code: protocol.CodeInvalidSeqNr, replyID: 25},
	{name: "append-duplicate-seq-nr", body: req(25, "append", 2, func(b *w) {
		b.kv("journal").s("j").kv("events").a(2).m(1).kv("seq_nr").u(1).m(1).kv("seq_nr").u(1)
	}), code: protocol.CodeInvalidSeqNr, replyID: 25},
	{name: "append-empty-events", body: req(26, "append", 2, func(b *w) { b.kv("journal").s("j").kv("events").a(0) }), code: protocol.CodeEmptyEvents, replyID: 26},
	{name: "append-no-events", body: req(26, "append", 1, func(b *w) { b.kv("journal").s("j") }), code: protocol.CodeInvalidArgument, replyID: 26},
	{name: "append-event-not-map", body: req(26, "append", 2, func(b *w) { b.kv("journal").s("j").kv("events").a(1).u(1) }), code: protocol.CodeInvalidArgument, replyID: 26},
	{name: "append-no-journal", body: req(27, "append", 1, func(b *w) { b.kv("events").a(1).m(1).kv("seq_nr").u(1) }), code: protocol.CodeInvalidArgument, replyID: 27},
	{name: "append-empty-journal", body: req(27, "append", 2, func(b *w) { b.kv("journal").s("").kv("events").a(1).m(1).kv("seq_nr").u(1) }), code: protocol.CodeInvalidArgument, replyID: 27},
	{name: "append-journal-not-utf8", body: req(27, "append", 2, func(b *w) {
		b.kv("journal").raw(0xa2, 0xc3, 0x28).kv("events").a(1).m(1).kv("seq_nr").u(1)
	}), code: protocol.CodeInvalidArgument, replyID: 27},
	{name: "append-journal-binary", body: req(27, "append", 2, func(b *w) { b.kv("journal").bin([]byte("j")).kv("events").a(1).m(1).kv("seq_nr").u(1) }), code: protocol.CodeInvalidArgument, replyID: 27},
	{name: "append-topic-illegal", body: req(28, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("topic").s("no spaces!").kv("events").a(1).m(1).kv("seq_nr").u(1)
	}), code: protocol.CodeInvalidArgument, replyID: 28},
	{name: "append-topic-not-utf8", body: req(28, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("topic").raw(0xa1, 0xff).kv("events").a(1).m(1).kv("seq_nr").u(1)
	}), code: protocol.CodeInvalidArgument, replyID: 28},
	{name: "append-binary-as-json", body: appendOne(29, 3, func(b *w) { b.kv("seq_nr").u(1).kv("payload").bin([]byte{1}).kv("payload_type").s("json") }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-binary-as-text", body: appendOne(29, 3, func(b *w) { b.kv("seq_nr").u(1).kv("payload").bin([]byte{1}).kv("payload_type").s("text") }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-string-as-binary", body: appendOne(29, 3, func(b *w) { b.kv("seq_nr").u(1).kv("payload").s("x").kv("payload_type").s("binary") }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-unknown-payload-type", body: appendOne(29, 3, func(b *w) { b.kv("seq_nr").u(1).kv("payload").s("x").kv("payload_type").s("xml") }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-text-without-payload", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload_type").s("text") }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-with-binary-inside", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload").m(1).kv("b").bin([]byte{1}) }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-with-ext", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload").raw(0xd4, 0x01, 0x00) }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-nan", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload").f64(math.NaN()) }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-integer-key", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload").m(1).u(1).u(1) }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-duplicate-key", body: appendOne(29, 2, func(b *w) { b.kv("seq_nr").u(1).kv("payload").m(2).kv("a").u(1).kv("a").u(2) }), code: protocol.CodeInvalidArgument, replyID: 29},
	{name: "append-json-too-deep", note: "129 nested arrays (MaxJSONDepth is 128)", body: nested(protocol.MaxJSONDepth + 1), code: protocol.CodeInvalidArgument, replyID: 40},
	{name: "append-tag-not-string", body: appendOne(30, 2, func(b *w) { b.kv("seq_nr").u(1).kv("tags").a(1).u(1) }), code: protocol.CodeInvalidArgument, replyID: 30},
	{name: "append-header-not-string", body: req(30, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("events").a(1).m(1).kv("seq_nr").u(1).kv("headers").m(1).kv("h").u(1)
	}), code: protocol.CodeInvalidArgument, replyID: 30},
	{name: "append-expire-after-zero", body: req(30, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("events").a(1).m(1).kv("seq_nr").u(1).kv("expire_after_ms").u(0)
	}), code: protocol.CodeInvalidArgument, replyID: 30},
	{name: "read-no-credit", body: req(31, "read", 1, func(b *w) { b.kv("journal").s("j") }), code: protocol.CodeInvalidArgument, replyID: 31},
	{name: "read-credit-too-large", body: req(31, "read", 2, func(b *w) { b.kv("journal").s("j").kv("credit").u(1 << 31) }), code: protocol.CodeInvalidArgument, replyID: 31},
	{name: "read-from-zero", body: req(31, "read", 3, func(b *w) { b.kv("journal").s("j").kv("credit").u(1).kv("from").u(0) }), code: protocol.CodeInvalidSeqNr, replyID: 31},
	{name: "read-max-zero", body: req(31, "read", 3, func(b *w) { b.kv("journal").s("j").kv("credit").u(1).kv("max").u(0) }), code: protocol.CodeInvalidArgument, replyID: 31},
	{name: "read-timeout-zero", body: req(31, "read", 3, func(b *w) { b.kv("journal").s("j").kv("credit").u(1).kv("timeout_ms").u(0) }), code: protocol.CodeInvalidArgument, replyID: 31},
	{name: "delete-no-to", body: req(32, "delete", 1, func(b *w) { b.kv("journal").s("j") }), code: protocol.CodeInvalidArgument, replyID: 32},
	{name: "delete-to-zero", body: req(32, "delete", 2, func(b *w) { b.kv("journal").s("j").kv("to").u(0) }), code: protocol.CodeInvalidSeqNr, replyID: 32},
	{name: "pointer-journal-nil", body: req(33, "pointer", 1, func(b *w) { b.kv("journal").nil() }), code: protocol.CodeInvalidArgument, replyID: 33},
	{name: "append-expected-negative", body: req(34, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("events").a(1).m(1).kv("seq_nr").u(1).kv("expected_seq_nr").i(-1)
	}), code: protocol.CodeInvalidArgument, replyID: 34},
	{name: "append-expected-string", body: req(34, "append", 3, func(b *w) {
		b.kv("journal").s("j").kv("events").a(1).m(1).kv("seq_nr").u(1).kv("expected_seq_nr").s("1")
	}), code: protocol.CodeInvalidArgument, replyID: 34},
	{name: "save-snapshot-no-seq-nr", body: req(35, "save_snapshot", 1, func(b *w) { b.kv("journal").s("j") }), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "save-snapshot-seq-nr-zero", body: req(35, "save_snapshot", 2, func(b *w) { b.kv("journal").s("j").kv("seq_nr").u(0) }), code: protocol.CodeInvalidSeqNr, replyID: 35},
	{name: "save-snapshot-binary-as-text", body: req(35, "save_snapshot", 4, func(b *w) {
		b.kv("journal").s("j").kv("seq_nr").u(1).kv("payload").bin([]byte{1}).kv("payload_type").s("text")
	}), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "save-snapshot-timestamp-float", body: req(35, "save_snapshot", 3, func(b *w) { b.kv("journal").s("j").kv("seq_nr").u(1).kv("timestamp").f64(1) }),
		code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "load-snapshot-no-journal", body: req(36, "load_snapshot", 0, func(*w) {}), code: protocol.CodeInvalidArgument, replyID: 36},
	{name: "load-snapshot-max-seq-nr-negative", body: req(36, "load_snapshot", 2, func(b *w) { b.kv("journal").s("j").kv("max_seq_nr").i(-1) }),
		code: protocol.CodeInvalidArgument, replyID: 36},
	{name: "delete-snapshots-seq-nr-zero", body: req(37, "delete_snapshots", 2, func(b *w) { b.kv("journal").s("j").kv("seq_nr").u(0) }),
		code: protocol.CodeInvalidSeqNr, replyID: 37},
	{name: "subscribe-no-credit", body: req(34, "subscribe", 1, func(b *w) { b.kv("journal").s("j") }), code: protocol.CodeInvalidArgument, replyID: 34},
	{name: "subscribe-from-zero", body: req(34, "subscribe", 3, func(b *w) { b.kv("journal").s("j").kv("credit").u(1).kv("from").u(0) }), code: protocol.CodeInvalidSeqNr, replyID: 34},
	{name: "subscribe-no-journal", body: req(34, "subscribe", 1, func(b *w) { b.kv("credit").u(1) }), code: protocol.CodeInvalidArgument, replyID: 34},
	{name: "subscribe-all-bad-from", body: req(35, "subscribe_all", 2, func(b *w) { b.kv("credit").u(1).kv("from").s("middle") }), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "subscribe-all-offsets-not-array", body: req(35, "subscribe_all", 2, func(b *w) { b.kv("credit").u(1).kv("offsets").m(0) }), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "subscribe-all-offset-negative", body: req(35, "subscribe_all", 2, func(b *w) {
		b.kv("credit").u(1).kv("offsets").a(1).m(2).kv("partition").u(0).kv("offset").i(-1)
	}), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "subscribe-all-partition-twice", body: req(35, "subscribe_all", 2, func(b *w) {
		b.kv("credit").u(1).kv("offsets").a(2).m(2).kv("partition").u(1).kv("offset").u(5).m(2).kv("partition").u(1).kv("offset").u(6)
	}), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "subscribe-all-no-credit", body: req(35, "subscribe_all", 0, func(*w) {}), code: protocol.CodeInvalidArgument, replyID: 35},
	{name: "credit-zero", note: "credit and cancel errors are connection-level: id 0, not the stream's id",
		body: req(8, "credit", 1, func(b *w) { b.kv("n").u(0) }), code: protocol.CodeInvalidArgument},
	{name: "credit-no-n", body: req(8, "credit", 0, func(*w) {}), code: protocol.CodeInvalidArgument},
	{name: "cancel-id-zero", body: req(0, "cancel", 0, func(*w) {}), code: protocol.CodeInvalidID},
}

var frameDefs = []frameDef{
	{name: "frame-too-large", note: "a length prefix of max_frame_bytes+1: the sidecar answers FRAME_TOO_LARGE with id 0 without reading the body, then closes",
		frame: []byte{0x01, 0x00, 0x00, 0x01}, maxFrameBytes: protocol.DefaultMaxFrameBytes, code: protocol.CodeFrameTooLarge},
	{name: "frame-length-2^32-1", frame: []byte{0xff, 0xff, 0xff, 0xff}, maxFrameBytes: protocol.DefaultMaxFrameBytes, code: protocol.CodeFrameTooLarge},
	{name: "frame-truncated", note: "the peer closed inside a frame: nothing can be answered",
		frame: append([]byte{0x00, 0x00, 0x00, 0x10}, build(func(b *w) { b.hdr(1, "ping", 0) })...), maxFrameBytes: protocol.DefaultMaxFrameBytes},
}
