package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// EncodeActionHeader returns the JSON of the "journal.action" Kafka header,
// byte for byte as the original writes it: a single-key object named after
// the action, compact, fields in the order range|to|id, origin, version,
// payloadType, metadata, with empty Origin and Version omitted. Append always
// carries "metadata" ({} when there is no data), whatever its Legacy flag
// says.
func EncodeActionHeader(h ActionHeader) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("encode action header: %w: %s", ErrMalformedHeader, fmt.Sprintf(format, args...))
	}
	b := make([]byte, 0, 128)
	switch h := h.(type) {
	case *AppendHeader:
		if h == nil {
			return fail("nil header")
		}
		if s, bad := invalidUTF8(h.Origin, h.Version); bad {
			return fail("%q is not valid UTF-8", s)
		}
		if !h.Range.Valid() {
			return fail("invalid range %s", h.Range)
		}
		if h.PayloadType != PayloadBinary && h.PayloadType != PayloadJSON {
			return fail("payload type %q is not binary or json", h.PayloadType)
		}
		b = append(b, `{"append":{"range":{"from":`...)
		b = strconv.AppendInt(b, int64(h.Range.From), 10)
		b = append(b, `,"to":`...)
		b = strconv.AppendInt(b, int64(h.Range.To), 10)
		b = append(b, '}')
		b = appendOriginVersion(b, h.Origin, h.Version)
		b = append(b, `,"payloadType":`...)
		b = appendJSONString(b, string(h.PayloadType))
		b = append(b, `,"metadata":{`...)
		if !isNullOrAbsent(h.Metadata.Data) {
			b = append(b, `"data":`...)
			var err error
			if b, err = appendJSONValue(b, h.Metadata.Data); err != nil {
				return fail("metadata data: %v", err)
			}
		}
		b = append(b, "}}}"...)
	case *DeleteHeader:
		if h == nil {
			return fail("nil header")
		}
		if s, bad := invalidUTF8(h.Origin, h.Version); bad {
			return fail("%q is not valid UTF-8", s)
		}
		if !h.To.Valid() {
			return fail("invalid delete to %d", int64(h.To))
		}
		b = append(b, `{"delete":{"to":`...)
		b = strconv.AppendInt(b, int64(h.To), 10)
		b = appendOriginVersion(b, h.Origin, h.Version)
		b = append(b, "}}"...)
	case *PurgeHeader:
		if h == nil {
			return fail("nil header")
		}
		if s, bad := invalidUTF8(h.Origin, h.Version); bad {
			return fail("%q is not valid UTF-8", s)
		}
		b = append(b, `{"purge":{`...)
		b = appendOriginVersion(b, h.Origin, h.Version)
		b = append(b, "}}"...)
	case *MarkHeader:
		if h == nil {
			return fail("nil header")
		}
		if s, bad := invalidUTF8(h.Origin, h.Version, h.ID); bad {
			return fail("%q is not valid UTF-8", s)
		}
		b = append(b, `{"mark":{"id":`...)
		b = appendJSONString(b, h.ID)
		b = appendOriginVersion(b, h.Origin, h.Version)
		b = append(b, "}}"...)
	default:
		return fail("unsupported header %T", h)
	}
	return b, nil
}

// invalidUTF8 returns the first string that is not valid UTF-8 (it would
// make the header invalid JSON), or false.
func invalidUTF8(ss ...string) (string, bool) {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return s, true
		}
	}
	return "", false
}

// appendOriginVersion appends the optional fields, each preceded by a comma
// unless it opens the object.
func appendOriginVersion(b []byte, origin, version string) []byte {
	field := func(name, v string) {
		if v == "" {
			return
		}
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	}
	field("origin", origin)
	field("version", version)
	return b
}

// decodeMark decodes b without a JSON decoder when it is a Mark's header in the form kjournal and the
// original write, {"mark":{"id":"…"[,"origin":"…"][,"version":"…"]}} with plain strings (no escapes);
// ok is false for anything else. It gives what the generic decoder gives for such a b, at the cost of
// a byte scan: marks are most records of a topic with reads, and the head cache's follower decodes
// every record.
func decodeMark(b []byte) (h *MarkHeader, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"mark":{"id":`))
	if !ok {
		return nil, false
	}
	h = &MarkHeader{}
	if h.ID, rest, ok = plainJSONString(rest); !ok {
		return nil, false
	}
	if h.Origin, h.Version, rest, ok = plainOriginVersion(rest); !ok {
		return nil, false
	}
	return h, string(rest) == "}}"
}

// decodeAppend decodes b without a JSON decoder when it is an Append's header as EncodeActionHeader
// writes it without metadata: {"append":{"range":{"from":N,"to":M}[,"origin":"…"][,"version":"…"],
// "payloadType":"binary"|"json","metadata":{}}} with plain strings and a valid range; ok is false for
// anything else. It gives what the generic decoder gives for such a b: the follower of the head cache
// decodes every Append's header.
func decodeAppend(b []byte) (h *AppendHeader, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"append":{"range":{"from":`))
	if !ok {
		return nil, false
	}
	h = &AppendHeader{}
	if h.Range.From, rest, ok = plainSeqNr(rest); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"to":`)); !ok {
		return nil, false
	}
	if h.Range.To, rest, ok = plainSeqNr(rest); !ok || h.Range.From > h.Range.To {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`}`)); !ok {
		return nil, false
	}
	if h.Origin, h.Version, rest, ok = plainOriginVersion(rest); !ok {
		return nil, false
	}
	switch {
	case bytes.Equal(rest, []byte(`,"payloadType":"binary","metadata":{}}}`)):
		h.PayloadType = PayloadBinary
	case bytes.Equal(rest, []byte(`,"payloadType":"json","metadata":{}}}`)):
		h.PayloadType = PayloadJSON
	default:
		return nil, false
	}
	return h, true
}

// plainOriginVersion cuts the optional ,"origin":"…" and ,"version":"…" fields, plain strings, off the
// front of b.
func plainOriginVersion(b []byte) (origin, version string, rest []byte, ok bool) {
	rest = b
	for _, f := range []struct {
		name string
		v    *string
	}{{`,"origin":`, &origin}, {`,"version":`, &version}} {
		if r, found := bytes.CutPrefix(rest, []byte(f.name)); found {
			if *f.v, rest, ok = plainJSONString(r); !ok {
				return "", "", nil, false
			}
		}
	}
	return origin, version, rest, true
}

// plainSeqNr cuts a valid SeqNr written as plain decimal digits (no sign, exponent or leading zero)
// off the front of b.
func plainSeqNr(b []byte) (s SeqNr, rest []byte, ok bool) {
	n := 0
	for n < len(b) && n < 20 && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || n == 20 || (b[0] == '0' && n > 1) {
		return 0, nil, false
	}
	v, err := strconv.ParseInt(string(b[:n]), 10, 64)
	if err != nil || !SeqNr(v).Valid() {
		return 0, nil, false
	}
	return SeqNr(v), b[n:], true
}

// plainJSONString cuts a JSON string without escapes or control characters off the front of b.
func plainJSONString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return string(b[1:i]), b[i+1:], utf8.Valid(b[1:i])
		case c == '\\' || c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}

// DecodeActionHeader parses the JSON of a "journal.action" header. It
// follows the original reader: the keys append, mark, delete and purge are
// tried in this order and the first whose value is an object wins; JSON
// with none of them (an action kind from a newer version, or not an object
// at all) returns (nil, nil) so that the record is ignored. Invalid JSON or
// a known action with missing or invalid fields is an error wrapping
// ErrMalformedHeader. An Append without an object "metadata" field is
// accepted with empty metadata and Legacy set.
func DecodeActionHeader(b []byte) (ActionHeader, error) {
	if h, ok := decodeMark(b); ok {
		return h, nil
	}
	if h, ok := decodeAppend(b); ok {
		return h, nil
	}
	return decodeActionHeader(b)
}

func decodeActionHeader(b []byte) (ActionHeader, error) {
	top, ok, err := jsonObject(b)
	if err != nil || !utf8.Valid(b) {
		return nil, headerError("invalid JSON")
	}
	if !ok {
		return nil, nil
	}
	field := func(name string) map[string]json.RawMessage {
		raw, present := top[name]
		if !present {
			return nil
		}
		obj, ok, _ := jsonObject(raw)
		if !ok {
			return nil
		}
		return obj
	}
	if f := field("append"); f != nil {
		return decodeAppendHeader(f)
	}
	if f := field("mark"); f != nil {
		h := &MarkHeader{}
		var ok bool
		if h.ID, ok = jsonStringValue(f["id"]); !ok {
			return nil, headerError("mark: id: expected a string")
		}
		if h.Origin, h.Version, err = decodeOriginVersion(f); err != nil {
			return nil, headerError("mark: " + err.Error())
		}
		return h, nil
	}
	if f := field("delete"); f != nil {
		h := &DeleteHeader{}
		to, err := decodeSeqNr(f["to"])
		if err != nil {
			return nil, headerError("delete: to: " + err.Error())
		}
		h.To = to
		if h.Origin, h.Version, err = decodeOriginVersion(f); err != nil {
			return nil, headerError("delete: " + err.Error())
		}
		return h, nil
	}
	if f := field("purge"); f != nil {
		h := &PurgeHeader{}
		if h.Origin, h.Version, err = decodeOriginVersion(f); err != nil {
			return nil, headerError("purge: " + err.Error())
		}
		return h, nil
	}
	return nil, nil
}

func decodeAppendHeader(f map[string]json.RawMessage) (*AppendHeader, error) {
	h := &AppendHeader{}
	rangeObj, ok, _ := jsonObject(f["range"])
	if !ok {
		return nil, headerError("append: range: expected an object")
	}
	from, err := decodeSeqNr(rangeObj["from"])
	if err != nil {
		return nil, headerError("append: range: from: " + err.Error())
	}
	to, err := decodeSeqNr(rangeObj["to"])
	if err != nil {
		return nil, headerError("append: range: to: " + err.Error())
	}
	if from > to {
		return nil, headerError(fmt.Sprintf("append: range: from(%d) > to(%d)", from, to))
	}
	h.Range = SeqRange{From: from, To: to}
	if h.Origin, h.Version, err = decodeOriginVersion(f); err != nil {
		return nil, headerError("append: " + err.Error())
	}
	pt, ok := jsonStringValue(f["payloadType"])
	if !ok || (PayloadType(pt) != PayloadBinary && PayloadType(pt) != PayloadJSON) {
		return nil, headerError("append: payloadType: expected \"binary\" or \"json\"")
	}
	h.PayloadType = PayloadType(pt)
	md, ok, _ := jsonObject(f["metadata"])
	if !ok {
		h.Legacy = true // written before header metadata existed
		return h, nil
	}
	if data := md["data"]; !isNullOrAbsent(data) {
		if h.Metadata.Data, err = compactJSON(data); err != nil {
			return nil, headerError("append: metadata: data: " + err.Error())
		}
	}
	return h, nil
}

func decodeOriginVersion(f map[string]json.RawMessage) (origin, version string, err error) {
	if origin, err = jsonOptString(f, "origin"); err != nil {
		return "", "", err
	}
	if version, err = jsonOptString(f, "version"); err != nil {
		return "", "", err
	}
	return origin, version, nil
}

// decodeSeqNr reads a required JSON seqNr (a number in [1, MaxSeqNr]).
func decodeSeqNr(raw json.RawMessage) (SeqNr, error) {
	if raw == nil {
		return 0, fmt.Errorf("missing")
	}
	n, ok := jsonInt64(raw)
	if !ok {
		return 0, fmt.Errorf("expected an integer, got %.40s", raw)
	}
	if s := SeqNr(n); !s.Valid() {
		return 0, s.Validate()
	}
	return SeqNr(n), nil
}

func headerError(reason string) error {
	return &DecodeError{Err: ErrMalformedHeader, Offset: -1, Reason: reason}
}
