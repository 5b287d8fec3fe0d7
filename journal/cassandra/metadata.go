package cassandra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/kjournal/kjournal/journal"
)

// The journal table's metadata column holds the event's RecordMetadata as the original's
// play-json format writes it: {"header":{"data":...},"payload":{"expireAfter":"1 day","data":...}},
// absent fields omitted, compact. Rows written before RecordMetadata existed hold a bare
// HeaderMetadata ({"data":...}); the original reads those too, and so do we.

// encodeRecordMetadata returns the metadata column value.
func encodeRecordMetadata(m journal.RecordMetadata) (string, error) {
	var b bytes.Buffer
	b.WriteString(`{"header":{`)
	if err := writeJSONField(&b, "data", m.Header.Data, false); err != nil {
		return "", err
	}
	b.WriteString(`},"payload":{`)
	comma := false
	if m.Payload.ExpireAfter != 0 {
		b.WriteString(`"expireAfter":`)
		b.WriteString(strconv.Quote(journal.FormatExpireAfter(m.Payload.ExpireAfter)))
		comma = true
	}
	if err := writeJSONField(&b, "data", m.Payload.Data, comma); err != nil {
		return "", err
	}
	b.WriteString(`}}`)
	return b.String(), nil
}

func writeJSONField(b *bytes.Buffer, name string, raw json.RawMessage, comma bool) error {
	if isJSONNull(raw) {
		return nil
	}
	if comma {
		b.WriteByte(',')
	}
	b.WriteString(`"` + name + `":`)
	if err := json.Compact(b, raw); err != nil {
		return fmt.Errorf("%w: metadata %s is not JSON: %v", ErrInvalidArgument, name, err)
	}
	return nil
}

func isJSONNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decodeRecordMetadata parses the metadata column; "" (null) is the empty metadata.
// emptyRecordMetadata is what encodeRecordMetadata writes for no metadata.
const emptyRecordMetadata = `{"header":{},"payload":{}}`

func decodeRecordMetadata(s string) (journal.RecordMetadata, error) {
	var m journal.RecordMetadata
	if s == "" || s == emptyRecordMetadata {
		return m, nil // most rows: no JSON decoder for them
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &top); err != nil {
		return m, fmt.Errorf("metadata %q: %w", s, err)
	}
	obj := func(name string) (map[string]json.RawMessage, error) {
		raw := top[name]
		if isJSONNull(raw) {
			return nil, nil
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", name, err)
		}
		return f, nil
	}
	header, err := obj("header")
	if err != nil {
		return m, err
	}
	payload, err := obj("payload")
	if err != nil {
		return m, err
	}
	if d := header["data"]; !isJSONNull(d) {
		m.Header.Data = d
	}
	if d := payload["data"]; !isJSONNull(d) {
		m.Payload.Data = d
	}
	if ea := payload["expireAfter"]; !isJSONNull(ea) {
		var str string
		if json.Unmarshal(ea, &str) == nil {
			m.Payload.ExpireAfter, err = journal.ParseExpireAfter(str)
		} else {
			var ms int64
			if err = json.Unmarshal(ea, &ms); err == nil {
				m.Payload.ExpireAfter = time.Duration(ms) * time.Millisecond
			}
		}
		if err != nil {
			return m, fmt.Errorf("metadata expireAfter %s: %w", ea, err)
		}
	}
	if m.Header.Data == nil && m.Payload.IsEmpty() {
		// The legacy shape: a bare HeaderMetadata.
		if d := top["data"]; !isJSONNull(d) {
			m.Header.Data = d
		}
	}
	return m, nil
}
