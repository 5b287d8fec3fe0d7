package journal

import (
	"encoding/json"
	"time"
)

// PayloadType names the kind of an event payload.
type PayloadType string

const (
	// PayloadBinary is opaque bytes.
	PayloadBinary PayloadType = "binary"
	// PayloadText is a UTF-8 string.
	PayloadText PayloadType = "text"
	// PayloadJSON is a JSON value.
	PayloadJSON PayloadType = "json"
)

// Valid reports whether t is one of binary, text, json.
func (t PayloadType) Valid() bool {
	return t == PayloadBinary || t == PayloadText || t == PayloadJSON
}

// Payload is the optional body of an event. Type "" means no payload (Data
// is then ignored). Text data is UTF-8; JSON data is JSON text, which the
// encoders compact.
type Payload struct {
	Type PayloadType
	Data []byte
}

// IsEmpty reports whether there is no payload.
func (p Payload) IsEmpty() bool { return p.Type == "" }

// BinaryPayload returns a binary payload.
func BinaryPayload(b []byte) Payload { return Payload{Type: PayloadBinary, Data: b} }

// TextPayload returns a text payload.
func TextPayload(s string) Payload { return Payload{Type: PayloadText, Data: []byte(s)} }

// JSONPayload returns a JSON payload holding raw (not validated here).
func JSONPayload(raw json.RawMessage) Payload { return Payload{Type: PayloadJSON, Data: raw} }

// Event is one journal event. Tags is a set: decoders return it sorted and
// without duplicates.
type Event struct {
	SeqNr   SeqNr
	Tags    []string
	Payload Payload
}

// PayloadMetadata is shared by all events of one Append.
type PayloadMetadata struct {
	// ExpireAfter asks the replicator to expire the journal this long after
	// the append; 0 means none.
	ExpireAfter time.Duration
	// Data is arbitrary JSON; nil means none.
	Data json.RawMessage
}

// IsEmpty reports whether neither field is set.
func (m PayloadMetadata) IsEmpty() bool { return m.ExpireAfter == 0 && m.Data == nil }

// HeaderMetadata travels in the Append action header ("metadata").
type HeaderMetadata struct {
	// Data is arbitrary JSON; nil means none.
	Data json.RawMessage
}

// RecordMetadata is the metadata of an event as a reader sees it.
type RecordMetadata struct {
	Header  HeaderMetadata
	Payload PayloadMetadata
}

// Headers are the user Kafka headers of an Append record.
type Headers map[string]string

// EventRecord is an event as a read returns it, with the context of the
// Kafka record that carried it.
type EventRecord struct {
	Event
	// Timestamp is the action timestamp (the Kafka record timestamp).
	Timestamp time.Time
	PartitionOffset
	Origin   string
	Version  string
	Metadata RecordMetadata
	Headers  Headers
}
