package journal

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// EncodeEvents encodes the events of one Append as the Kafka record value,
// choosing the format as the original does: the JSON format (PayloadJSON)
// when no event has a binary payload, otherwise the binary format, version
// 1 (PayloadBinary). The returned type goes into the Append header.
//
// Tags are written in the order given (duplicates dropped); the original
// writes its Set's iteration order, so decoders must not depend on it.
func EncodeEvents(events []Event, md PayloadMetadata) (value []byte, pt PayloadType, err error) {
	for _, e := range events {
		if e.Payload.Type == PayloadBinary {
			value, err = EncodeEventsBinary(events, md)
			return value, PayloadBinary, err
		}
	}
	value, err = EncodeEventsJSON(events, md)
	return value, PayloadJSON, err
}

// DecodeEvents decodes an Append record value whose header says pt
// (PayloadJSON or PayloadBinary). It accepts everything the original
// accepts: the JSON format with or without top-level "metadata", binary
// version 1 (events and a metadata trailer), version 0 (events only), and a
// first byte of any other value (ignored, the rest read as version 0).
// Tags are returned sorted without duplicates. Errors wrap
// ErrMalformedEvents or ErrUnsupportedPayloadType.
func DecodeEvents(value []byte, pt PayloadType) ([]Event, PayloadMetadata, error) {
	switch pt {
	case PayloadJSON:
		return decodeEventsJSON(value)
	case PayloadBinary:
		return decodeEventsBinary(value)
	}
	return nil, PayloadMetadata{}, fmt.Errorf("decode events: %w: %q", ErrUnsupportedPayloadType, pt)
}

// SniffPayloadType guesses the format of a record value whose header is not
// at hand: JSON values start with '{' (after optional whitespace), binary
// values with a version byte (0 or 1 in practice).
func SniffPayloadType(value []byte) PayloadType {
	if jsonKind(value) == '{' {
		return PayloadJSON
	}
	return PayloadBinary
}

func invalidEvents(format string, args ...any) error {
	return fmt.Errorf("encode events: %w: %s", ErrInvalidEvents, fmt.Sprintf(format, args...))
}

// uniqueTags returns tags without duplicates, keeping the first occurrence.
func uniqueTags(tags []string) ([]string, error) {
	for i, t := range tags {
		if !utf8.ValidString(t) {
			return nil, invalidEvents("tag %q is not valid UTF-8", t)
		}
		if slices.Contains(tags[:i], t) {
			out := make([]string, 0, len(tags))
			for _, t := range tags {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
			return out, nil
		}
	}
	return tags, nil
}

// sortedTags returns a sorted set of tags (decoded tags are a set).
func sortedTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

func checkEvents(events []Event) error {
	if len(events) == 0 {
		return invalidEvents("no events")
	}
	for _, e := range events {
		if !e.SeqNr.Valid() {
			return invalidEvents("invalid seqNr %d", int64(e.SeqNr))
		}
		switch e.Payload.Type {
		case "", PayloadBinary:
		case PayloadText:
			if !utf8.Valid(e.Payload.Data) {
				return invalidEvents("seqNr %d: text payload is not valid UTF-8", e.SeqNr)
			}
		case PayloadJSON:
			// validated when written
		default:
			return invalidEvents("seqNr %d: unknown payload type %q", e.SeqNr, e.Payload.Type)
		}
	}
	return nil
}

// appendPayloadMetadata writes {"expireAfter":"1 day","data":...}, absent
// fields omitted ({} when empty).
func appendPayloadMetadata(b []byte, md PayloadMetadata) ([]byte, error) {
	b = append(b, '{')
	if md.ExpireAfter != 0 {
		b = append(b, `"expireAfter":`...)
		b = appendJSONString(b, FormatExpireAfter(md.ExpireAfter))
	}
	if !isNullOrAbsent(md.Data) {
		if md.ExpireAfter != 0 {
			b = append(b, ',')
		}
		b = append(b, `"data":`...)
		var err error
		if b, err = appendJSONValue(b, md.Data); err != nil {
			return nil, invalidEvents("metadata data: %v", err)
		}
	}
	return append(b, '}'), nil
}

// decodePayloadMetadata reads the PayloadMetadata JSON object.
func decodePayloadMetadata(raw []byte) (PayloadMetadata, error) {
	var md PayloadMetadata
	f, ok, err := jsonObject(raw)
	if err != nil || !ok || !utf8.Valid(raw) {
		return md, fmt.Errorf("metadata: expected an object")
	}
	if ea := f["expireAfter"]; !isNullOrAbsent(ea) {
		if md.ExpireAfter, err = decodeExpireAfter(ea); err != nil {
			return md, fmt.Errorf("metadata: expireAfter: %w", err)
		}
	}
	if data := f["data"]; !isNullOrAbsent(data) {
		if md.Data, err = compactJSON(data); err != nil {
			return md, fmt.Errorf("metadata: data: %w", err)
		}
	}
	return md, nil
}

// decodeExpireAfter reads a Scala duration string or a number of millis.
func decodeExpireAfter(raw json.RawMessage) (d time.Duration, err error) {
	if s, ok := jsonStringValue(raw); ok {
		return ParseExpireAfter(s)
	}
	if ms, ok := jsonInt64(raw); ok {
		if d, ok := durationFromMillis(ms); ok {
			return d, nil
		}
	}
	return 0, &DecodeError{Err: ErrInvalidDuration, Offset: -1, Reason: "expected a duration string or milliseconds, got " + strconv.Quote(string(raw))}
}
