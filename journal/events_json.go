package journal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The JSON format of an Append value (PayloadType "json"):
//
//	{"events":[{"seqNr":1,"tags":["a"],"payloadType":"json","payload":{...}}, ...],"metadata":{...}}
//
// payloadType is "json" or "text" (a text payload is a JSON string); both
// fields are omitted for an event without payload. "metadata" is always
// written and optional on read (the original's first format lacked it).

// EncodeEventsJSON encodes events in the JSON format. It fails with
// ErrInvalidEvents if an event has a binary payload. Note that a JSON
// payload that is JSON null reads back as "no payload", as in the original.
func EncodeEventsJSON(events []Event, md PayloadMetadata) ([]byte, error) {
	if err := checkEvents(events); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64*len(events)+payloadsSize(events))
	b = append(b, `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seqNr":`...)
		b = strconv.AppendInt(b, int64(e.SeqNr), 10)
		b = append(b, `,"tags":[`...)
		tags, err := uniqueTags(e.Tags)
		if err != nil {
			return nil, err
		}
		for j, t := range tags {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		b = append(b, ']')
		switch e.Payload.Type {
		case PayloadText:
			b = append(b, `,"payloadType":"text","payload":`...)
			b = appendJSONString(b, string(e.Payload.Data))
		case PayloadJSON:
			b = append(b, `,"payloadType":"json","payload":`...)
			if b, err = appendJSONValue(b, e.Payload.Data); err != nil {
				return nil, invalidEvents("seqNr %d: json payload: %v", e.SeqNr, err)
			}
		case PayloadBinary:
			return nil, invalidEvents("seqNr %d: binary payload in the JSON format", e.SeqNr)
		}
		b = append(b, '}')
	}
	b = append(b, `],"metadata":`...)
	b, err := appendPayloadMetadata(b, md)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func payloadsSize(events []Event) int {
	n := 0
	for _, e := range events {
		n += len(e.Payload.Data)
	}
	return n
}

func jsonEventsError(reason string) error {
	return &DecodeError{Err: ErrMalformedEvents, Offset: -1, Reason: "json: " + reason}
}

func decodeEventsJSON(value []byte) ([]Event, PayloadMetadata, error) {
	var md PayloadMetadata
	if !utf8.Valid(value) {
		return nil, md, jsonEventsError("invalid UTF-8")
	}
	top, ok, err := jsonObject(value)
	if err != nil {
		return nil, md, jsonEventsError("invalid JSON")
	}
	if !ok {
		return nil, md, jsonEventsError("expected an object")
	}
	var raws []json.RawMessage
	if jsonKind(top["events"]) != '[' || json.Unmarshal(top["events"], &raws) != nil {
		return nil, md, jsonEventsError("events: expected an array")
	}
	if len(raws) == 0 {
		return nil, md, jsonEventsError("events: list is empty")
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		if events[i], err = decodeEventJSON(raw); err != nil {
			return nil, md, jsonEventsError(fmt.Sprintf("events[%d]: %v", i, err))
		}
	}
	if raw := top["metadata"]; !isNullOrAbsent(raw) {
		if md, err = decodePayloadMetadata(raw); err != nil {
			return nil, PayloadMetadata{}, jsonEventsError(err.Error())
		}
	}
	return events, md, nil
}

func decodeEventJSON(raw json.RawMessage) (Event, error) {
	var e Event
	f, ok, err := jsonObject(raw)
	if err != nil || !ok {
		return e, fmt.Errorf("expected an object")
	}
	if e.SeqNr, err = decodeSeqNr(f["seqNr"]); err != nil {
		return e, fmt.Errorf("seqNr: %w", err)
	}
	var tags []json.RawMessage
	if jsonKind(f["tags"]) != '[' || json.Unmarshal(f["tags"], &tags) != nil {
		return e, fmt.Errorf("tags: expected an array")
	}
	for _, t := range tags {
		s, ok := jsonStringValue(t)
		if !ok {
			return e, fmt.Errorf("tags: expected strings")
		}
		e.Tags = append(e.Tags, s)
	}
	e.Tags = sortedTags(e.Tags)
	pt := PayloadJSON // a payload without payloadType is JSON
	if raw := f["payloadType"]; !isNullOrAbsent(raw) {
		s, _ := jsonStringValue(raw)
		switch PayloadType(s) {
		case PayloadJSON, PayloadText:
			pt = PayloadType(s)
		default:
			return e, fmt.Errorf("payloadType: expected \"text\" or \"json\"")
		}
	}
	payload := f["payload"]
	if isNullOrAbsent(payload) {
		return e, nil
	}
	if pt == PayloadText {
		s, ok := jsonStringValue(payload)
		if !ok {
			return e, fmt.Errorf("payload: text payload must be a string")
		}
		e.Payload = Payload{Type: PayloadText, Data: []byte(s)}
		return e, nil
	}
	data, err := compactJSON(payload)
	if err != nil {
		return e, fmt.Errorf("payload: %w", err)
	}
	e.Payload = Payload{Type: PayloadJSON, Data: data}
	return e, nil
}
