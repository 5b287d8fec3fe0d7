package protocol

//go:generate go run ./internal/gencodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Code is a wire error code. The codes, their names, families and default retryability live in
// codes.json; codes_gen.go and PROTOCOL.md's table are generated from it.
type Code int

// CodeInfo describes one code of the table.
type CodeInfo struct {
	Code        Code
	Name        string // UPPER_SNAKE, e.g. "INVALID_SEQ_NR"
	Family      string // protocol, request, flow, backend or internal
	Retryable   bool   // the default for errors with this code
	Description string
}

// Codes returns the code table in increasing code order.
func Codes() []CodeInfo { return append([]CodeInfo(nil), codeTable[:]...) }

// Info returns the table entry of c.
func (c Code) Info() (CodeInfo, bool) {
	for _, ci := range codeTable {
		if ci.Code == c {
			return ci, true
		}
	}
	return CodeInfo{}, false
}

// String returns the code's name, or CODE_<n> for a code this version does not know.
func (c Code) String() string {
	if ci, ok := c.Info(); ok {
		return ci.Name
	}
	return fmt.Sprintf("CODE_%d", int(c))
}

// Error is an error that crosses the wire: the error object {code, message, retryable} of an error
// frame, plus the id of the request it answers. It is also the Reply that carries it.
//
// Errors compare by code: errors.Is(err, protocol.ErrTimeout) holds for every *Error with CodeTimeout.
type Error struct {
	// ID is the id of the request the error answers, sent as the frame's id; 0 means the error is about
	// the connection, not a request. DecodeRequest sets it to the request's id when it could read one
	// (never for credit and cancel, whose id names a stream, not a request).
	ID        uint64 `msgpack:"id"`
	Code      Code   `msgpack:"code"`
	Message   string `msgpack:"message"`
	Retryable bool   `msgpack:"retryable"`
	// HighestSeqNr is the journal's actual highest seq_nr (0: no events), sent as the error object's
	// highest_seq_nr only with CodeWrongExpectedSeqNr.
	HighestSeqNr int64 `msgpack:"highest_seq_nr,omitempty"`
}

// NewError returns an error with the code's default retryability.
func NewError(id uint64, code Code, format string, args ...any) *Error {
	ci, _ := code.Info()
	return &Error{ID: id, Code: code, Message: fmt.Sprintf(format, args...), Retryable: ci.Retryable}
}

func (e *Error) Error() string {
	return fmt.Sprintf("kjournal: %s (%d): %s", e.Code, int(e.Code), e.Message)
}

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithID returns a copy of e answering request id.
func (e *Error) WithID(id uint64) *Error {
	c := *e
	c.ID = id
	return &c
}

// ReplyID implements Reply.
func (e *Error) ReplyID() uint64 { return e.ID }

// AsError turns any error into the *Error that answers request id: an *Error in err's chain keeps its
// code, message and retryability; context.DeadlineExceeded becomes TIMEOUT; anything else INTERNAL.
func AsError(id uint64, err error) *Error {
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return pe.WithID(id)
	case errors.Is(err, context.DeadlineExceeded):
		return NewError(id, CodeTimeout, "%v", err)
	default:
		return NewError(id, CodeInternal, "%v", err)
	}
}

// encode writes {id, error: {code, message, retryable}}, plus highest_seq_nr for
// WRONG_EXPECTED_SEQ_NR.
func (e *Error) encode(w *enc) {
	wrongSeqNr := e.Code == CodeWrongExpectedSeqNr
	w.mapLen(2)
	w.str("id")
	w.uint(e.ID)
	w.str("error")
	w.mapLen(3 + count(wrongSeqNr))
	w.str("code")
	w.int(int64(e.Code))
	w.str("message")
	w.str(e.Message)
	w.str("retryable")
	w.boolean(e.Retryable)
	if wrongSeqNr {
		w.str("highest_seq_nr")
		w.int(e.HighestSeqNr)
	}
}

// decodeError reads the error object of an error frame.
func decodeError(id uint64, f *fields) *Error {
	r, ok := f.get("error")
	if !ok {
		f.missing("error")
		return nil
	}
	m, _, err := r.fieldMap(0)
	if err != nil {
		f.fail(CodeInvalidArgument, "error", err)
		return nil
	}
	ef := &fields{buf: r.buf, m: m, path: "error.", id: id, event: -1}
	e := &Error{ID: id}
	e.Code = Code(ef.uint("code", true, 0, 1<<31-1))
	e.Message = ef.str("message", false)
	e.Retryable = ef.boolean("retryable")
	e.HighestSeqNr = int64(ef.uint("highest_seq_nr", false, 0, MaxSeqNr))
	if ef.err != nil {
		f.err = ef.err
		return nil
	}
	return e
}

// EncodeMsgpack implements msgpack.CustomEncoder with the canonical encoding of the error frame.
func (e *Error) EncodeMsgpack(me *msgpack.Encoder) error { return encodeThrough(me, e.encode) }
