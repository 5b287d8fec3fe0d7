package journal

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// The binary format of an Append value (PayloadType "binary"), big-endian:
//
//	byte   version            1 (0 = events only; any other value: ignored, read as 0)
//	int32  eventCount
//	eventCount times:
//	  int32  eventSize        bytes of the event that follows
//	  int64  seqNr
//	  int32  tagsSize         bytes of the tag block that follows
//	         tags             (int32 length, UTF-8 bytes) repeated, no count
//	  uint8  payloadKind      0 none, 1 binary, 2 json, 3 text
//	  int32  payloadSize      (present for none too, 0)
//	         payload
//	rest   metadata           version 1 only: PayloadMetadata JSON, no length prefix
//
// Readers ignore bytes left over inside an event or a payload-less payload
// field, as the original's scodec codecs do.

const (
	binaryVersion0 = 0
	binaryVersion1 = 1

	payloadKindNone   = 0
	payloadKindBinary = 1
	payloadKindJSON   = 2
	payloadKindText   = 3
)

// EncodeEventsBinary encodes events in the binary format, version 1. Any
// payload kind may appear; JSON payloads are written compact.
func EncodeEventsBinary(events []Event, md PayloadMetadata) ([]byte, error) {
	if err := checkEvents(events); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+64*len(events)+payloadsSize(events))
	b = append(b, binaryVersion1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(events)))
	for _, e := range events {
		sizeAt := len(b)
		b = append(b, 0, 0, 0, 0) // eventSize, patched below
		b = binary.BigEndian.AppendUint64(b, uint64(e.SeqNr))
		tags, err := uniqueTags(e.Tags)
		if err != nil {
			return nil, err
		}
		tagsAt := len(b)
		b = append(b, 0, 0, 0, 0)
		for _, t := range tags {
			b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
			b = append(b, t...)
		}
		if b, err = patchSize(b, tagsAt); err != nil {
			return nil, err
		}
		switch e.Payload.Type {
		case "":
			b = append(b, payloadKindNone, 0, 0, 0, 0)
		case PayloadBinary, PayloadText:
			kind := byte(payloadKindBinary)
			if e.Payload.Type == PayloadText {
				kind = payloadKindText
			}
			if len(e.Payload.Data) > math.MaxInt32 {
				return nil, invalidEvents("seqNr %d: payload larger than 2 GiB", e.SeqNr)
			}
			b = append(b, kind)
			b = binary.BigEndian.AppendUint32(b, uint32(len(e.Payload.Data)))
			b = append(b, e.Payload.Data...)
		case PayloadJSON:
			b = append(b, payloadKindJSON)
			at := len(b)
			b = append(b, 0, 0, 0, 0)
			if b, err = appendJSONValue(b, e.Payload.Data); err != nil {
				return nil, invalidEvents("seqNr %d: json payload: %v", e.SeqNr, err)
			}
			if b, err = patchSize(b, at); err != nil {
				return nil, err
			}
		}
		if b, err = patchSize(b, sizeAt); err != nil {
			return nil, err
		}
	}
	return appendPayloadMetadata(b, md)
}

// patchSize writes, at b[at:at+4], the number of bytes after it.
func patchSize(b []byte, at int) ([]byte, error) {
	n := len(b) - at - 4
	if n > math.MaxInt32 {
		return nil, invalidEvents("event larger than 2 GiB")
	}
	binary.BigEndian.PutUint32(b[at:], uint32(n))
	return b, nil
}

// binReader reads big-endian fields, never past its end.
type binReader struct {
	b   []byte
	off int // offset of b[0] in the whole value, for errors
}

func (r *binReader) err(format string, args ...any) error {
	return &DecodeError{Err: ErrMalformedEvents, Offset: r.off, Reason: "binary: " + fmt.Sprintf(format, args...)}
}

func (r *binReader) take(n int, what string) ([]byte, error) {
	if n < 0 || n > len(r.b) {
		return nil, r.err("%s: need %d bytes, have %d", what, n, len(r.b))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	r.off += n
	return v, nil
}

func (r *binReader) int32(what string) (int, error) {
	v, err := r.take(4, what)
	if err != nil {
		return 0, err
	}
	return int(int32(binary.BigEndian.Uint32(v))), nil
}

// sized returns a reader over the next int32-length-prefixed block.
func (r *binReader) sized(what string) (*binReader, error) {
	n, err := r.int32(what + " size")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, r.err("%s: negative size %d", what, n)
	}
	off := r.off
	v, err := r.take(n, what)
	if err != nil {
		return nil, err
	}
	return &binReader{b: v, off: off}, nil
}

func decodeEventsBinary(value []byte) ([]Event, PayloadMetadata, error) {
	var md PayloadMetadata
	if len(value) == 0 {
		return nil, md, &DecodeError{Err: ErrMalformedEvents, Offset: 0, Reason: "binary: empty value"}
	}
	// The original tries version 1, then 0, then "ignore the first byte".
	// All three read the events the same way from byte 1; they differ only
	// in the trailer, which version 1 parses as metadata. A version-1 value
	// whose trailer does not parse is therefore read by the fallback, with
	// empty metadata.
	r := &binReader{b: value[1:], off: 1}
	count, err := r.int32("event count")
	if err != nil {
		return nil, md, err
	}
	if count <= 0 {
		return nil, md, r.err("event count %d: list is empty", count)
	}
	events := make([]Event, 0, min(count, len(r.b)/27+1)) // 27 = smallest event incl. its size
	for i := 0; i < count; i++ {
		er, err := r.sized(fmt.Sprintf("event %d", i))
		if err != nil {
			return nil, md, err
		}
		e, err := decodeEventBinary(er)
		if err != nil {
			return nil, md, err
		}
		events = append(events, e)
	}
	if value[0] == binaryVersion1 {
		if m, err := decodePayloadMetadata(r.b); err == nil {
			md = m
		}
	}
	return events, md, nil
}

func decodeEventBinary(r *binReader) (Event, error) {
	var e Event
	v, err := r.take(8, "seqNr")
	if err != nil {
		return e, err
	}
	e.SeqNr = SeqNr(binary.BigEndian.Uint64(v))
	if !e.SeqNr.Valid() {
		return e, r.err("invalid seqNr %d", int64(e.SeqNr))
	}
	tr, err := r.sized("tags")
	if err != nil {
		return e, err
	}
	for len(tr.b) > 0 {
		t, err := tr.sized("tag")
		if err != nil {
			return e, err
		}
		if !utf8.Valid(t.b) {
			return e, t.err("tag is not valid UTF-8")
		}
		e.Tags = append(e.Tags, string(t.b))
	}
	e.Tags = sortedTags(e.Tags)
	kind, err := r.take(1, "payload kind")
	if err != nil {
		return e, err
	}
	pr, err := r.sized("payload")
	if err != nil {
		return e, err
	}
	switch kind[0] {
	case payloadKindNone:
	case payloadKindBinary:
		e.Payload = Payload{Type: PayloadBinary, Data: append([]byte{}, pr.b...)}
	case payloadKindText:
		if !utf8.Valid(pr.b) {
			return e, pr.err("text payload is not valid UTF-8")
		}
		e.Payload = Payload{Type: PayloadText, Data: append([]byte{}, pr.b...)}
	case payloadKindJSON:
		data, err := compactJSON(pr.b)
		if err != nil {
			return e, pr.err("json payload: %v", err)
		}
		e.Payload = Payload{Type: PayloadJSON, Data: data}
	default:
		return e, r.err("unknown payload kind %d", kind[0])
	}
	return e, nil
}
