package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file holds the two halves that every message shares: a validating reader over one frame body
// (the library parses every header; we bound every length by the bytes actually left before anything
// is allocated or read) and a canonical writer (smallest encodings, keys in table order).

// kind is the msgpack type family of the next value.
type kind uint8

const (
	kindInvalid kind = iota // 0xc1, never valid
	kindNil
	kindBool
	kindInt
	kindFloat
	kindStr
	kindBin
	kindArray
	kindMap
	kindExt
)

func (k kind) String() string {
	return [...]string{"invalid", "nil", "bool", "integer", "float", "string", "binary", "array", "map", "ext"}[k]
}

func kindOf(c byte) kind {
	switch {
	case msgpcode.IsFixedNum(c):
		return kindInt
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return kindMap
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return kindArray
	case msgpcode.IsString(c):
		return kindStr
	case msgpcode.IsBin(c):
		return kindBin
	case msgpcode.IsExt(c):
		return kindExt
	case c == msgpcode.Nil:
		return kindNil
	case c == msgpcode.False, c == msgpcode.True:
		return kindBool
	case c == msgpcode.Float, c == msgpcode.Double:
		return kindFloat
	case c >= msgpcode.Uint8 && c <= msgpcode.Uint64, c >= msgpcode.Int8 && c <= msgpcode.Int64:
		return kindInt
	}
	return kindInvalid
}

// isSigned reports whether an integer code is one of the signed encodings (negative fixint, int8..int64).
func isSigned(c byte) bool {
	return c >= msgpcode.NegFixedNumLow || (c >= msgpcode.Int8 && c <= msgpcode.Int64)
}

// reader reads msgpack values from one in-memory buffer. It never trusts a length: a string, binary or
// ext longer than the bytes left, or an array or map claiming more elements than bytes left, is an
// error before any allocation. It parses the buffer itself, by the msgpack spec's table of formats
// (msgpcode names them): a msgpack.Decoder over a bytes.Reader read every byte through an interface
// and was most of a request's decoding time.
type reader struct {
	buf []byte
	off int // the next byte to read
}

func newReader(b []byte) *reader { return &reader{buf: b} }

// reset makes r read b.
func (r *reader) reset(b []byte) { r.buf, r.off = b, 0 }

func (r *reader) pos() int       { return r.off }
func (r *reader) remaining() int { return len(r.buf) - r.off }

var errTruncated = errMalformed{"unexpected end of data"}

// code consumes the next byte, a value's format code.
func (r *reader) code() (byte, error) {
	if r.off >= len(r.buf) {
		return 0, errTruncated
	}
	c := r.buf[r.off]
	r.off++
	return c, nil
}

// be consumes an n-byte big-endian unsigned integer (n is 1, 2, 4 or 8).
func (r *reader) be(n int) (uint64, error) {
	if n > r.remaining() {
		return 0, errTruncated
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// length consumes the header of a string, binary, array or map (as its kind k) and returns its
// length: the fix forms hold it in the code, the others in the 1, 2 or 4 bytes after it.
func (r *reader) length(k kind) (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	var size int
	switch {
	case k == kindStr && msgpcode.IsFixedString(c):
		return int(c & msgpcode.FixedStrMask), nil
	case k == kindArray && msgpcode.IsFixedArray(c):
		return int(c & msgpcode.FixedArrayMask), nil
	case k == kindMap && msgpcode.IsFixedMap(c):
		return int(c & msgpcode.FixedMapMask), nil
	case k == kindStr && c == msgpcode.Str8, k == kindBin && c == msgpcode.Bin8:
		size = 1
	case k == kindStr && c == msgpcode.Str16, k == kindBin && c == msgpcode.Bin16,
		k == kindArray && c == msgpcode.Array16, k == kindMap && c == msgpcode.Map16:
		size = 2
	case k == kindStr && c == msgpcode.Str32, k == kindBin && c == msgpcode.Bin32,
		k == kindArray && c == msgpcode.Array32, k == kindMap && c == msgpcode.Map32:
		size = 4
	default:
		r.off--
		return 0, typeError{want: k.String(), got: kindOf(c)}
	}
	n, err := r.be(size)
	return int(n), err
}

// errMalformed reports msgpack that is not well-formed (truncated, 0xc1, lengths past the end).
type errMalformed struct{ msg string }

func (e errMalformed) Error() string { return e.msg }

func malformed(format string, args ...any) error { return errMalformed{fmt.Sprintf(format, args...)} }

func (r *reader) peek() (kind, byte, error) {
	if r.off >= len(r.buf) {
		return kindInvalid, 0, errTruncated
	}
	c := r.buf[r.off]
	k := kindOf(c)
	if k == kindInvalid {
		return k, c, malformed("invalid msgpack code 0x%02x", c)
	}
	return k, c, nil
}

func (r *reader) advance(n int) error {
	if n < 0 || n > r.remaining() {
		return malformed("length %d exceeds the %d bytes left", n, r.remaining())
	}
	r.off += n
	return nil
}

// rawBytes consumes a str or bin value and returns its bytes, aliasing the buffer.
func (r *reader) rawBytes() ([]byte, error) {
	k := kindStr
	if r.off < len(r.buf) && msgpcode.IsBin(r.buf[r.off]) {
		k = kindBin
	}
	n, err := r.length(k)
	if err != nil {
		return nil, err
	}
	start := r.pos()
	if err := r.advance(n); err != nil {
		return nil, err
	}
	return r.buf[start : start+n], nil
}

// arrayLen consumes an array header. pending is the number of values the caller still expects after
// this array, so that the claim is checked against the whole remaining buffer.
func (r *reader) arrayLen(pending int) (int, error) {
	n, err := r.length(kindArray)
	if err != nil {
		return 0, err
	}
	if n+pending > r.remaining() {
		return 0, malformed("array of %d elements exceeds the %d bytes left", n, r.remaining())
	}
	return n, nil
}

func (r *reader) mapLen(pending int) (int, error) {
	n, err := r.length(kindMap)
	if err != nil {
		return 0, err
	}
	if 2*n+pending > r.remaining() {
		return 0, malformed("map of %d entries exceeds the %d bytes left", n, r.remaining())
	}
	return n, nil
}

// skip consumes one well-formed value of any type without recursion or allocation, and returns the
// number of msgpack values it contained (1 for a scalar). It fails when more than limit values were
// seen (limit <= 0: no limit).
func (r *reader) skip(limit int) (int, error) {
	values := 0
	for pending := 1; pending > 0; {
		pending--
		values++
		if limit > 0 && values > limit {
			return values, malformed("more than %d msgpack values", limit)
		}
		k, _, err := r.peek()
		if err != nil {
			return values, err
		}
		switch k {
		case kindArray:
			n, err := r.arrayLen(pending)
			if err != nil {
				return values, err
			}
			pending += n
		case kindMap:
			n, err := r.mapLen(pending)
			if err != nil {
				return values, err
			}
			pending += 2 * n
		case kindStr, kindBin:
			if _, err := r.rawBytes(); err != nil {
				return values, err
			}
		case kindExt:
			n, err := r.extLen()
			if err != nil {
				return values, err
			}
			if err := r.advance(n); err != nil {
				return values, err
			}
		default: // nil, bool, int, float: at most 9 bytes
			if err := r.advance(scalarSize(r.buf[r.off])); err != nil {
				return values, errTruncated
			}
		}
	}
	return values, nil
}

// extLen consumes an ext header (the fixext forms hold the data's length in the code, ext 8/16/32 in
// the bytes after it; the type byte follows) and returns the data's length.
func (r *reader) extLen() (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch c {
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		n = 1 << (c - msgpcode.FixExt1)
	case msgpcode.Ext8:
		n, err = r.be(1)
	case msgpcode.Ext16:
		n, err = r.be(2)
	default: // Ext32
		n, err = r.be(4)
	}
	if err != nil {
		return 0, err
	}
	if _, err := r.be(1); err != nil { // the ext type
		return 0, err
	}
	return int(n), nil
}

// scalarSize is the size of a nil, bool, integer or float value whose code is c, code included.
func scalarSize(c byte) int {
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		return 2
	case msgpcode.Uint16, msgpcode.Int16:
		return 3
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		return 5
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		return 9
	}
	return 1 // fixints, nil, false, true
}

// span is a value's byte range inside a reader's buffer.
type span struct{ start, end int }

// field is one key of a decoded map and its value's span. The key aliases the message's buffer (a
// string per key was an allocation each), and lives no longer than the decode.
type field struct {
	key []byte
	val span
}

// fieldSet is the keys of a decoded map with their value spans, in the map's order. A message has a
// dozen keys at most: a linear search beats a Go map and costs one allocation, not one per key.
type fieldSet []field

func (fs fieldSet) lookup(name string) (span, bool) {
	for i := range fs {
		if string(fs[i].key) == name { // compared without a conversion
			return fs[i].val, true
		}
	}
	return span{}, false
}

// fieldMap consumes a map with string keys and returns each key's value span, skipping the values.
// The values are well-formed msgpack when it returns. Duplicate keys are an error.
func (r *reader) fieldMap(limit int) (fieldSet, int, error) {
	return r.fieldMapInto(nil, limit)
}

// fieldMapInto is fieldMap returning the fields in dst's array when they fit (a decoder that reuses
// dst allocates nothing per map).
func (r *reader) fieldMapInto(dst fieldSet, limit int) (fieldSet, int, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, 0, err
	}
	if k != kindMap {
		return nil, 0, typeError{want: "map", got: k}
	}
	n, err := r.mapLen(0)
	if err != nil {
		return nil, 0, err
	}
	m := dst[:0]
	if cap(m) < n {
		m = make(fieldSet, 0, n)
	}
	values := 1
	for range n {
		k, _, err := r.peek()
		if err != nil {
			return nil, values, err
		}
		if k != kindStr {
			// Skip it anyway so that malformed msgpack is reported as such.
			if _, err := r.skip(0); err != nil {
				return nil, values, err
			}
			return nil, values, typeError{what: "map key", want: "string", got: k}
		}
		key, err := r.rawBytes()
		if err != nil {
			return nil, values, err
		}
		values++  // the key
		rest := 0 // no limit
		if limit > 0 {
			if rest = limit - values; rest <= 0 {
				return nil, values, malformed("more than %d msgpack values", limit)
			}
		}
		start := r.pos()
		v, err := r.skip(rest)
		values += v
		if err != nil {
			return nil, values, err
		}
		for _, f := range m {
			if bytes.Equal(f.key, key) {
				return nil, values, fmt.Errorf("duplicate key %q", key)
			}
		}
		if !utf8.Valid(key) {
			return nil, values, fmt.Errorf("map key is not valid UTF-8")
		}
		m = append(m, field{key, span{start, r.pos()}})
	}
	return m, values, nil
}

// typeError is a value of the wrong msgpack type.
type typeError struct {
	what string
	want string
	got  kind
}

func (e typeError) Error() string {
	if e.what == "" {
		return fmt.Sprintf("want %s, got %s", e.want, e.got)
	}
	return fmt.Sprintf("%s: want %s, got %s", e.what, e.want, e.got)
}

// integer is a decoded msgpack integer of any encoding.
type integer struct {
	neg bool   // the value is negative; then i holds it
	i   int64  // valid when neg or u <= MaxInt64
	u   uint64 // valid when !neg
}

func (r *reader) integer() (integer, error) {
	k, c, err := r.peek()
	if err != nil {
		return integer{}, err
	}
	if k != kindInt {
		return integer{}, typeError{want: "integer", got: k}
	}
	r.off++
	var u uint64 // the value's bits
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		u, err = r.be(1)
	case msgpcode.Uint16, msgpcode.Int16:
		u, err = r.be(2)
	case msgpcode.Uint32, msgpcode.Int32:
		u, err = r.be(4)
	case msgpcode.Uint64, msgpcode.Int64:
		u, err = r.be(8)
	default: // a positive or negative fixint
		u = uint64(int64(int8(c)))
	}
	if err != nil {
		return integer{}, err
	}
	if isSigned(c) {
		var i int64
		switch c {
		case msgpcode.Int8:
			i = int64(int8(u))
		case msgpcode.Int16:
			i = int64(int16(u))
		case msgpcode.Int32:
			i = int64(int32(u))
		default: // Int64, negative fixint
			i = int64(u)
		}
		if i < 0 {
			return integer{neg: true, i: i}, nil
		}
		return integer{i: i, u: uint64(i)}, nil
	}
	return integer{i: int64(u), u: u}, nil // i is only meaningful when u <= MaxInt64
}

// uintIn reads an integer and checks lo <= v <= hi.
func (r *reader) uintIn(lo, hi uint64) (uint64, error) {
	v, err := r.integer()
	if err != nil {
		return 0, err
	}
	if v.neg || v.u < lo || v.u > hi {
		return 0, rangeError{v: v, lo: lo, hi: hi}
	}
	return v.u, nil
}

type rangeError struct {
	v      integer
	lo, hi uint64
}

func (e rangeError) Error() string {
	got := fmt.Sprint(e.v.u)
	if e.v.neg {
		got = fmt.Sprint(e.v.i)
	}
	return fmt.Sprintf("must be %d..%d, got %s", e.lo, e.hi, got)
}

func (r *reader) str() (string, error) {
	b, err := r.strBytes()
	return string(b), err
}

// strBytes is str aliasing the buffer, for a string compared and not kept (an op, a payload type).
func (r *reader) strBytes() ([]byte, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	if k != kindStr {
		return nil, typeError{want: "string", got: k}
	}
	b, err := r.rawBytes()
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("string is not valid UTF-8")
	}
	return b, nil
}

func (r *reader) bin() ([]byte, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	if k != kindBin {
		return nil, typeError{want: "binary", got: k}
	}
	b, err := r.rawBytes()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// binAlias is bin aliasing the buffer.
func (r *reader) binAlias() ([]byte, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	if k != kindBin {
		return nil, typeError{want: "binary", got: k}
	}
	return r.rawBytes()
}

func (r *reader) boolean() (bool, error) {
	k, _, err := r.peek()
	if err != nil {
		return false, err
	}
	if k != kindBool {
		return false, typeError{want: "bool", got: k}
	}
	r.off++
	return r.buf[r.off-1] == msgpcode.True, nil
}

func (r *reader) float() (float64, error) {
	_, c, err := r.peek()
	if err != nil {
		return 0, err
	}
	r.off++
	if c == msgpcode.Float {
		bits, err := r.be(4)
		return float64(math.Float32frombits(uint32(bits))), err
	}
	bits, err := r.be(8)
	return math.Float64frombits(bits), err
}

// stringArray reads an array of strings.
func (r *reader) stringArray() ([]string, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	if k != kindArray {
		return nil, typeError{want: "array of strings", got: k}
	}
	n, err := r.arrayLen(0)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for i := range n {
		s, err := r.str()
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// stringMap reads a map of string to string.
func (r *reader) stringMap() (map[string]string, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	if k != kindMap {
		return nil, typeError{want: "map of strings", got: k}
	}
	n, err := r.mapLen(0)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make(map[string]string, n)
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		v, err := r.str()
		if err != nil {
			return nil, fmt.Errorf("[%q]: %w", key, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		out[key] = v
	}
	return out, nil
}

// fields is a decoded map of named values: the top level of a message, or an event.
type fields struct {
	buf  []byte
	m    fieldSet
	path string // prefix for error messages, e.g. "error."
	// event is the index of the event these fields are, in the array "events" of parent (the
	// error path is then <parent's path>events[<event>].), or -1. Formatted only for an error.
	event  int
	parent string
	id     uint64 // the id an error is reported with
	err    *Error // the first error; later reads are no-ops
	// scratch is the reader get returns, reset for each field: a decoder holds one field's reader at
	// a time, and a reader per field was the largest allocation of a request.
	scratch reader
	// sub, when not nil, is reused for each element's fields (the events of an append) by
	// elementFields: a RequestDecoder's, so that an event costs no allocation.
	sub *fields
	// reuse, when not nil, is the RequestDecoder with ReuseAppends set that decodes these fields.
	reuse *RequestDecoder
}

// index checks that body is exactly one map with string keys and indexes its values into f, reusing
// f.m's array.
func (f *fields) index(body []byte, limit int) error {
	f.buf = body
	r := &f.scratch
	r.reset(body)
	m, _, err := r.fieldMapInto(f.m, limit)
	if err != nil {
		return NewError(0, CodeBadFrame, "%v", err)
	}
	if r.remaining() != 0 {
		return NewError(0, CodeBadFrame, "%d bytes after the message map", r.remaining())
	}
	f.m = m
	return nil
}

// elementFields reads the map at r, events[i] of f, into f.sub (or new fields when f has none).
func (f *fields) elementFields(r *reader, i int) (*fields, error) {
	ef := f.sub
	if ef == nil {
		ef = &fields{}
	}
	m, _, err := r.fieldMapInto(ef.m, 0)
	if err != nil {
		return nil, err
	}
	*ef = fields{buf: r.buf, m: m, id: f.id, parent: f.path, event: i, reuse: f.reuse}
	return ef, nil
}

// release drops f's references to the body it decoded, keeping its arrays for reuse.
func (f *fields) release() {
	clear(f.m)
	f.buf, f.scratch.buf, f.err = nil, nil, nil
}

// eventFields are the fields of events[i] of a message whose error path is parent.
func eventFields(buf []byte, m fieldSet, id uint64, parent string, i int) *fields {
	return &fields{buf: buf, m: m, id: id, parent: parent, event: i}
}

// fail records the first error.
func (f *fields) fail(code Code, name string, err error) {
	if f.err == nil {
		path := f.path
		if f.event >= 0 && path == "" {
			path = fmt.Sprintf("%sevents[%d].", f.parent, f.event)
		}
		f.err = NewError(f.id, code, "%s%s: %v", path, name, err)
	}
}

// get returns a reader over the named value, or false when the key is absent or nil: every optional
// field treats nil as absent. The reader is valid until the next get on f.
func (f *fields) get(name string) (*reader, bool) {
	if f.err != nil {
		return nil, false
	}
	s, ok := f.m.lookup(name)
	if !ok || (s.end == s.start+1 && f.buf[s.start] == msgpcode.Nil) {
		return nil, false
	}
	f.scratch.reset(f.buf[s.start:s.end])
	return &f.scratch, true
}

func (f *fields) has(name string) bool {
	_, ok := f.m.lookup(name)
	return ok
}

// array returns the reader at the required array field name and the array's length; ok is false
// after the failure (missing, not an array, unreadable length) has been recorded.
func (f *fields) array(name string) (r *reader, n int, ok bool) {
	r, ok = f.get(name)
	if !ok {
		f.missing(name)
		return nil, 0, false
	}
	if k, _, _ := r.peek(); k != kindArray {
		f.fail(CodeInvalidArgument, name, typeError{want: "array", got: k})
		return nil, 0, false
	}
	n, err := r.arrayLen(0)
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
		return nil, 0, false
	}
	return r, n, true
}

func (f *fields) missing(name string) {
	f.fail(CodeInvalidArgument, name, fmt.Errorf("required field is missing"))
}

func (f *fields) str(name string, required bool) string {
	r, ok := f.get(name)
	if !ok {
		if required {
			f.missing(name)
		}
		return ""
	}
	s, err := r.str()
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return s
}

// strBytes is str aliasing the body (valid until the decode returns).
func (f *fields) strBytes(name string) []byte {
	r, ok := f.get(name)
	if !ok {
		return nil
	}
	b, err := r.strBytes()
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return b
}

func (f *fields) uint(name string, required bool, lo, hi uint64) uint64 {
	r, ok := f.get(name)
	if !ok {
		if required {
			f.missing(name)
		}
		return 0
	}
	v, err := r.uintIn(lo, hi)
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return v
}

// int reads a signed integer in lo..hi.
func (f *fields) int(name string, required bool, lo, hi int64) int64 {
	r, ok := f.get(name)
	if !ok {
		if required {
			f.missing(name)
		}
		return 0
	}
	v, err := r.integer()
	if err == nil && (!v.neg && (v.u > math.MaxInt64 || v.i > hi) || v.i < lo) {
		err = fmt.Errorf("must be %d..%d", lo, hi)
	}
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return v.i
}

// seqNr reads a sequence number: any integer encoding, 1..MaxSeqNr, else INVALID_SEQ_NR.
func (f *fields) seqNr(name string, required bool) int64 {
	r, ok := f.get(name)
	if !ok {
		if required {
			f.missing(name)
		}
		return 0
	}
	v, err := r.uintIn(1, MaxSeqNr)
	if err != nil {
		code := CodeInvalidArgument
		if _, ok := err.(rangeError); ok {
			code = CodeInvalidSeqNr
		}
		f.fail(code, name, err)
	}
	return int64(v)
}

func (f *fields) json(name string) any {
	r, ok := f.get(name)
	if !ok {
		return nil
	}
	v, err := r.json(0)
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return v
}

func (f *fields) stringMap(name string) map[string]string {
	r, ok := f.get(name)
	if !ok {
		return nil
	}
	m, err := r.stringMap()
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return m
}

func (f *fields) boolean(name string) bool {
	r, ok := f.get(name)
	if !ok {
		return false
	}
	b, err := r.boolean()
	if err != nil {
		f.fail(CodeInvalidArgument, name, err)
	}
	return b
}

// enc writes canonical msgpack into a byte slice: the smallest header for every integer, string,
// binary, array and map (the msgpack library's choice, which TestEnc_MatchesLibrary checks), keys in
// our order, floats always as float64. It appends to buf, so a caller can encode into a buffer it
// reuses (AppendReplyBody); the messages' EncodeMsgpack methods write the finished bytes through the
// caller's Encoder.
type enc struct {
	buf []byte
	err error
}

func (e *enc) check(err error) {
	if e.err == nil && err != nil {
		e.err = err
	}
}

// head writes a length header: the fix form (code|n) below fixMax, else the 8-, 16- or 32-bit form
// (code8 0 when the type has none).
func (e *enc) head(n int, fix byte, fixMax int, code8, code16, code32 byte) {
	switch {
	case n < fixMax:
		e.buf = append(e.buf, fix|byte(n))
	case code8 != 0 && n <= math.MaxUint8:
		e.buf = append(e.buf, code8, byte(n))
	case n <= math.MaxUint16:
		e.buf = append(e.buf, code16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.buf = append(e.buf, code32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	default:
		e.check(fmt.Errorf("protocol: length %d does not fit msgpack", n))
	}
}

func (e *enc) mapLen(n int) {
	e.head(n, msgpcode.FixedMapLow, 16, 0, msgpcode.Map16, msgpcode.Map32)
}

func (e *enc) arrayLen(n int) {
	e.head(n, msgpcode.FixedArrayLow, 16, 0, msgpcode.Array16, msgpcode.Array32)
}

func (e *enc) str(s string) {
	e.head(len(s), msgpcode.FixedStrLow, 32, msgpcode.Str8, msgpcode.Str16, msgpcode.Str32)
	e.buf = append(e.buf, s...)
}

func (e *enc) uint(v uint64) {
	switch {
	case v <= math.MaxInt8:
		e.buf = append(e.buf, byte(v))
	case v <= math.MaxUint8:
		e.buf = append(e.buf, msgpcode.Uint8, byte(v))
	case v <= math.MaxUint16:
		e.buf = append(e.buf, msgpcode.Uint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		e.buf = append(e.buf, msgpcode.Uint32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
	default:
		e.buf = append(e.buf, msgpcode.Uint64)
		e.buf = binary.BigEndian.AppendUint64(e.buf, v)
	}
}

func (e *enc) int(v int64) {
	switch {
	case v >= 0:
		e.uint(uint64(v))
	case v >= -32: // negative fixint
		e.buf = append(e.buf, byte(v))
	case v >= math.MinInt8:
		e.buf = append(e.buf, msgpcode.Int8, byte(v))
	case v >= math.MinInt16:
		e.buf = append(e.buf, msgpcode.Int16, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		e.buf = append(e.buf, msgpcode.Int32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
	default:
		e.buf = append(e.buf, msgpcode.Int64)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
	}
}

func (e *enc) boolean(b bool) {
	if b {
		e.buf = append(e.buf, msgpcode.True)
	} else {
		e.buf = append(e.buf, msgpcode.False)
	}
}

func (e *enc) nil() { e.buf = append(e.buf, msgpcode.Nil) }

// bin writes a binary value; unlike the library's EncodeBytes, a nil slice is an empty binary, not nil.
func (e *enc) bin(b []byte) {
	e.head(len(b), 0, 0, msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32)
	e.buf = append(e.buf, b...)
}

func (e *enc) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.check(fmt.Errorf("float %v has no JSON representation", f))
		return
	}
	e.buf = append(e.buf, msgpcode.Double)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// optNil writes v, or nil when v is the zero value.
func (e *enc) uintOrNil(v uint64) {
	if v == 0 {
		e.nil()
		return
	}
	e.uint(v)
}

func (e *enc) strOrNil(s string) {
	if s == "" {
		e.nil()
		return
	}
	e.str(s)
}

// tags writes a set of strings sorted and without duplicates.
func (e *enc) tags(tags []string) {
	ts := sortedSet(tags)
	e.arrayLen(len(ts))
	for _, t := range ts {
		e.str(t)
	}
}

func (e *enc) stringMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.mapLen(len(keys))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *enc) bytes() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

// sortedSet returns ss sorted with duplicates removed (nil for none).
func sortedSet(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := append([]string(nil), ss...)
	sort.Strings(out)
	j := 1
	for i := 1; i < len(out); i++ {
		if out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}

// count returns how many of the conditions hold, for map headers with optional keys.
func count(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}

var errEmpty = errors.New("must not be empty")

// journal reads the required journal id: a non-empty string.
func (f *fields) journal() string {
	s := f.str("journal", true)
	if f.err == nil && s == "" {
		f.fail(CodeInvalidArgument, "journal", errEmpty)
	}
	return s
}

// topic reads the optional topic, which must be a legal Kafka topic name.
func (f *fields) topic() string {
	r, ok := f.get("topic")
	if !ok {
		return ""
	}
	s, err := r.str()
	if err == nil {
		err = validTopic(s)
	}
	if err != nil {
		f.fail(CodeInvalidArgument, "topic", err)
	}
	return s
}

// validTopic applies Kafka's topic name rules: 1..249 of [a-zA-Z0-9._-], not "." or "..".
func validTopic(s string) error {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return fmt.Errorf("%q is not a legal Kafka topic name", s)
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%q is not a legal Kafka topic name", s)
		}
	}
	return nil
}

// timeoutMs reads the optional timeout_ms, 1..MaxTimeoutMs.
func (f *fields) timeoutMs() uint32 {
	return uint32(f.uint("timeout_ms", false, 1, MaxTimeoutMs))
}

var errMismatchedNil = errors.New("partition and offset must both be nil or both be integers")
