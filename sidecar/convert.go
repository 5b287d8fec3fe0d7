package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// Conversions between the wire messages and the journal package's types.

// appendOf turns an append request into the journal's events, in dst's array when they fit, and
// options.
func appendOf(r *protocol.AppendRequest, dst []journal.Event) ([]journal.Event, journal.AppendOptions, error) {
	var events []journal.Event
	if cap(dst) >= len(r.Events) {
		events = dst[:len(r.Events)]
	} else {
		events = make([]journal.Event, len(r.Events))
	}
	for i, e := range r.Events {
		p, err := payloadOf(e.PayloadType, e.Payload)
		if err != nil {
			return nil, journal.AppendOptions{}, fmt.Errorf("events[%d].payload: %w", i, err)
		}
		events[i] = journal.Event{SeqNr: journal.SeqNr(e.SeqNr), Tags: e.Tags, Payload: p}
	}
	var opts journal.AppendOptions
	var err error
	if opts.Metadata, err = rawJSON(r.Metadata); err != nil {
		return nil, opts, fmt.Errorf("metadata: %w", err)
	}
	if opts.PayloadMetadata, err = rawJSON(r.PayloadMetadata); err != nil {
		return nil, opts, fmt.Errorf("payload_metadata: %w", err)
	}
	opts.ExpireAfter = time.Duration(r.ExpireAfterMs) * time.Millisecond
	if len(r.Headers) > 0 {
		opts.Headers = journal.Headers(r.Headers)
	}
	return events, opts, nil
}

func payloadOf(pt protocol.PayloadType, v any) (journal.Payload, error) {
	switch pt {
	case protocol.PayloadNone:
		return journal.Payload{}, nil
	case protocol.PayloadBinary:
		b, _ := v.([]byte)
		if b == nil {
			b = []byte{}
		}
		return journal.BinaryPayload(b), nil
	case protocol.PayloadText:
		s, _ := v.(string)
		return journal.TextPayload(s), nil
	case protocol.PayloadJSON:
		raw, err := marshalJSON(v)
		if err != nil {
			return journal.Payload{}, err
		}
		return journal.JSONPayload(raw), nil
	}
	return journal.Payload{}, fmt.Errorf("unknown payload type %q", pt)
}

// rawJSON is the JSON text of a metadata value; nil (not given, or JSON null) is none.
func rawJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	return marshalJSON(v)
}

// marshalJSON writes a value of protocol's JSON value model as JSON text, without HTML escaping.
func marshalJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// recordOf turns an event read back into its wire form. Stored JSON that does not parse is a data
// integrity error.
func recordOf(e journal.EventRecord) (protocol.EventRecord, error) {
	r := protocol.EventRecord{
		SeqNr:     int64(e.SeqNr),
		Tags:      e.Tags,
		Timestamp: e.Timestamp.UnixMilli(),
		Partition: e.Partition,
		Offset:    e.Offset,
		Origin:    e.Origin,
		Version:   e.Version,
		Headers:   e.Headers,
	}
	var err error
	if r.PayloadType, r.Payload, err = wirePayload(e.Payload); err != nil {
		return r, fmt.Errorf("%w: event %d: %v", journal.ErrDataIntegrity, e.SeqNr, err)
	}
	if r.Metadata, err = valueOf(e.Metadata.Header.Data); err != nil {
		return r, fmt.Errorf("%w: event %d: metadata: %v", journal.ErrDataIntegrity, e.SeqNr, err)
	}
	if r.PayloadMetadata, err = valueOf(e.Metadata.Payload.Data); err != nil {
		return r, fmt.Errorf("%w: event %d: payload metadata: %v", journal.ErrDataIntegrity, e.SeqNr, err)
	}
	if d := e.Metadata.Payload.ExpireAfter; d > 0 {
		r.ExpireAfterMs = max(1, d.Milliseconds())
	}
	return r, nil
}

// wirePayload is a stored payload in its wire form; stored JSON that does not parse is an error.
func wirePayload(p journal.Payload) (protocol.PayloadType, any, error) {
	switch p.Type {
	case "":
		return protocol.PayloadNone, nil, nil
	case journal.PayloadBinary:
		return protocol.PayloadBinary, nonNil(p.Data), nil
	case journal.PayloadText:
		return protocol.PayloadText, string(p.Data), nil
	case journal.PayloadJSON:
		v, err := protocol.JSONFromRaw(p.Data)
		if err != nil {
			return protocol.PayloadNone, nil, fmt.Errorf("json payload: %v", err)
		}
		return protocol.PayloadJSON, v, nil
	}
	return protocol.PayloadNone, nil, fmt.Errorf("payload type %q", p.Type)
}

func valueOf(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return protocol.JSONFromRaw(raw)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// recordSize estimates the encoded size of a record, to cut frames well below max_frame_bytes
// without encoding twice; the frame is still checked after encoding.
func recordSize(e journal.EventRecord) int {
	n := 256 + len(e.Payload.Data) + len(e.Metadata.Header.Data) + len(e.Metadata.Payload.Data) +
		len(e.Origin) + len(e.Version)
	for _, t := range e.Tags {
		n += len(t) + 5
	}
	for k, v := range e.Headers {
		n += len(k) + len(v) + 10
	}
	return n
}
