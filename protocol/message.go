package protocol

import (
	"fmt"
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the protocol version this package speaks; hello negotiates it.
const Version = 1

// Limits of the wire format. The sidecar's own limits (max_frame_bytes, max_in_flight) are announced
// in the hello reply.
const (
	// DefaultMaxFrameBytes is the default max_frame_bytes: the largest frame body either side sends.
	DefaultMaxFrameBytes = 16 << 20
	// MaxID is the largest request id, 2^53-1, so that JavaScript clients can use plain numbers.
	MaxID = 1<<53 - 1
	// MaxSeqNr is the largest sequence number, 2^63-1.
	MaxSeqNr = math.MaxInt64
	// MaxSafeInt bounds the millisecond fields (timeout_ms, expire_after_ms) and counts, 2^53-1.
	MaxSafeInt = 1<<53 - 1
	// MaxTimeoutMs bounds timeout_ms (about 24.8 days).
	MaxTimeoutMs = 1<<31 - 1
	// MaxCredit bounds one credit grant and a stream's credit balance, 2^31-1.
	MaxCredit = 1<<31 - 1
	// MaxJSONDepth is how many arrays and maps may nest inside one JSON value (payload, metadata).
	MaxJSONDepth = 128
	// MaxRequestValues bounds the number of msgpack values (every scalar, array, map, key and element
	// counts one) in a request frame, so that a small frame cannot expand into a large Go value.
	MaxRequestValues = 1 << 20
)

// Op names an operation: the "op" field of a request.
type Op string

// The operations of version 1.
const (
	OpHello   Op = "hello"
	OpAppend  Op = "append"
	OpRead    Op = "read"
	OpCredit  Op = "credit"
	OpCancel  Op = "cancel"
	OpPointer Op = "pointer"
	OpDelete  Op = "delete"
	OpPurge   Op = "purge"
	OpPing    Op = "ping"

	OpSaveSnapshot    Op = "save_snapshot"
	OpLoadSnapshot    Op = "load_snapshot"
	OpDeleteSnapshots Op = "delete_snapshots"

	OpSubscribe    Op = "subscribe"
	OpSubscribeAll Op = "subscribe_all"
)

// Request is a decoded client message: one of *HelloRequest, *AppendRequest, *ReadRequest,
// *CreditRequest, *CancelRequest, *PointerRequest, *DeleteRequest, *PurgeRequest, *PingRequest,
// *SaveSnapshotRequest, *LoadSnapshotRequest, *DeleteSnapshotsRequest.
//
// CreditRequest and CancelRequest are not requests in the protocol's sense: their id names an open
// read stream, they get no reply and they never count against max_in_flight.
type Request interface {
	// RequestID is the message's id field.
	RequestID() uint64
	// Op is the message's op field.
	Op() Op
	// Timeout is timeout_ms as a duration, 0 when absent (the sidecar's default applies).
	Timeout() time.Duration
	encode(*enc)
}

// Reply is a sidecar message: *HelloReply, *AppendReply, *ReadEvents, *ReadEnd, *PointerReply,
// *DeleteReply, *PurgeReply, *PingReply, *SaveSnapshotReply, *LoadSnapshotReply,
// *DeleteSnapshotsReply, or *Error for an error frame.
type Reply interface {
	// ReplyID is the frame's id: the id of the request answered, 0 for a connection-level error.
	ReplyID() uint64
	encode(*enc)
}

// requestDecoders is keyed by string, not Op, so that a lookup by a []byte converted in the index
// expression allocates nothing.
var requestDecoders = map[string]func(*fields) Request{
	string(OpHello):   decodeHello,
	string(OpAppend):  decodeAppend,
	string(OpRead):    decodeRead,
	string(OpCredit):  decodeCredit,
	string(OpCancel):  decodeCancel,
	string(OpPointer): decodePointer,
	string(OpDelete):  decodeDelete,
	string(OpPurge):   decodePurge,
	string(OpPing):    decodePing,

	string(OpSaveSnapshot):    decodeSaveSnapshot,
	string(OpLoadSnapshot):    decodeLoadSnapshot,
	string(OpDeleteSnapshots): decodeDeleteSnapshots,

	string(OpSubscribe):    decodeSubscribe,
	string(OpSubscribeAll): decodeSubscribeAll,
}

// DecodeRequest decodes one frame body. Every failure is an *Error whose ID is the id its error frame
// must carry: 0 when the body is not a well-formed map (BAD_FRAME), has no valid id (INVALID_ID), or
// is a credit or cancel, otherwise the request's id. Unknown keys are ignored.
//
// The body is validated in one pass that allocates nothing before all of it is known to be
// well-formed msgpack of at most MaxRequestValues values; no length claimed by the body is trusted.
func DecodeRequest(body []byte) (Request, error) {
	var d RequestDecoder
	return d.Decode(body)
}

// RequestDecoder is DecodeRequest for a stream of bodies: it keeps the arrays it indexes a body with
// for the next one, so that a connection's reader, which keeps one, decodes an append allocating
// only what the request keeps. The requests it returns share nothing with it or with the body. It is
// not safe for concurrent use.
type RequestDecoder struct {
	// ReuseAppends makes Decode return the same *AppendRequest each time, with its Events array
	// reused and the binary payloads aliasing the body: an append request is then valid only until
	// the next Decode, and as long as the body's bytes are unchanged. Requests of other ops are not
	// affected. For a caller that is done with an append when it has handed it on (the sidecar's
	// reader: journal.Journal.AppendAsync encodes the record before it returns), this saves the
	// request, the events and a copy of every binary payload.
	ReuseAppends bool

	top, event fields
	app        AppendRequest
}

// Decode is DecodeRequest.
func (d *RequestDecoder) Decode(body []byte) (Request, error) {
	d.top = fields{m: d.top.m, event: -1, sub: &d.event}
	if d.ReuseAppends {
		d.top.reuse = d
	}
	defer func() { d.top.release(); d.event.release() }() // a large body is not kept alive
	f := &d.top
	if err := f.index(body, MaxRequestValues); err != nil {
		return nil, err
	}
	id, err := decodeID(f)
	if err != nil {
		return nil, err
	}
	f.id = id
	op, ok := f.get("op")
	if !ok {
		return nil, NewError(id, CodeUnknownOp, "op: required field is missing")
	}
	name, err := op.strBytes()
	if err != nil {
		return nil, NewError(id, CodeUnknownOp, "op: %v", err)
	}
	dec, ok := requestDecoders[string(name)]
	if !ok {
		return nil, NewError(id, CodeUnknownOp, "unknown op %q", name)
	}
	if string(name) == string(OpCredit) || string(name) == string(OpCancel) {
		f.id = 0 // their id names a stream; an error about them is about the connection
	}
	req := dec(f)
	if f.err != nil {
		return nil, f.err
	}
	return req, nil
}

// decodeFields checks that body is exactly one map with string keys and indexes its values.
func decodeFields(body []byte, limit int) (*fields, error) {
	f := &fields{event: -1}
	if err := f.index(body, limit); err != nil {
		return nil, err
	}
	return f, nil
}

func decodeID(f *fields) (uint64, error) {
	r, ok := f.get("id")
	if !ok {
		return 0, NewError(0, CodeInvalidID, "id: required field is missing")
	}
	id, err := r.uintIn(1, MaxID)
	if err != nil {
		return 0, NewError(0, CodeInvalidID, "id: %v", err)
	}
	return id, nil
}

// DecodeReply decodes one reply frame body, given the op of the request with that id (the client
// knows it; use OpHello for an id-0 frame). An error frame decodes to *Error, returned as the Reply;
// the error result is only for bodies that are not a valid reply to op.
func DecodeReply(body []byte, op Op) (Reply, error) {
	f, err := decodeFields(body, 0)
	if err != nil {
		return nil, err
	}
	r, ok := f.get("id")
	if !ok {
		return nil, NewError(0, CodeInvalidID, "id: required field is missing")
	}
	id, err := r.uintIn(0, MaxID)
	if err != nil {
		return nil, NewError(0, CodeInvalidID, "id: %v", err)
	}
	f.id = id
	var rep Reply
	switch {
	case f.has("error"):
		rep = decodeError(id, f)
	case op == OpHello:
		rep = decodeHelloReply(f)
	case op == OpAppend:
		rep = decodeAppendReply(f)
	case op == OpRead:
		rep = decodeReadReply(f)
	case op == OpPointer:
		rep = decodePointerReply(f)
	case op == OpDelete:
		rep = decodeDeleteReply(f)
	case op == OpPurge:
		rep = decodePurgeReply(f)
	case op == OpPing:
		rep = &PingReply{ID: id}
	case op == OpSaveSnapshot:
		rep = decodeSaveSnapshotReply(f)
	case op == OpLoadSnapshot:
		rep = decodeLoadSnapshotReply(f)
	case op == OpDeleteSnapshots:
		rep = decodeDeleteSnapshotsReply(f)
	case op == OpSubscribe:
		rep = decodeSubscribeReply(f)
	case op == OpSubscribeAll:
		rep = decodeSubscribeAllReply(f)
	default:
		return nil, fmt.Errorf("protocol: op %q has no reply", op)
	}
	if f.err != nil {
		return nil, f.err
	}
	return rep, nil
}

// EncodeRequest returns the canonical body of req (without the length prefix).
func EncodeRequest(req Request) ([]byte, error) {
	e := enc{buf: make([]byte, 0, 64)}
	req.encode(&e)
	return e.bytes()
}

// EncodeReply returns the canonical body of rep (without the length prefix).
func EncodeReply(rep Reply) ([]byte, error) {
	return AppendReplyBody(make([]byte, 0, 64), rep)
}

// AppendReplyBody appends the canonical body of rep (without the length prefix) to dst and returns the
// extended slice; on error, dst is returned as it was. A sender that reuses dst encodes a reply
// without allocating.
func AppendReplyBody(dst []byte, rep Reply) ([]byte, error) {
	if r, ok := rep.(*AppendReply); ok { // most replies: a direct call, so e stays on the stack
		e := enc{buf: dst}
		r.encode(&e)
		return e.buf, nil // cannot fail
	}
	e := enc{buf: dst}
	rep.encode(&e)
	if e.err != nil {
		return dst, e.err
	}
	return e.buf, nil
}

// encodeThrough writes a message through a caller's msgpack.Encoder; every message's EncodeMsgpack
// uses it, so msgpack.Marshal(msg) is the canonical body too.
func encodeThrough(me *msgpack.Encoder, encode func(*enc)) error {
	var e enc
	encode(&e)
	if e.err != nil {
		return e.err
	}
	_, err := me.Writer().Write(e.buf)
	return err
}

func timeout(ms uint64) time.Duration { return time.Duration(ms) * time.Millisecond }

// header writes the id and op keys every request starts with; n is the number of other keys.
func (e *enc) requestHeader(id uint64, op Op, n int) {
	e.mapLen(n + 2)
	e.str("id")
	e.uint(id)
	e.str("op")
	e.str(string(op))
}

// replyHeader writes the id key every reply starts with; n is the number of other keys.
func (e *enc) replyHeader(id uint64, n int) {
	e.mapLen(n + 1)
	e.str("id")
	e.uint(id)
}
