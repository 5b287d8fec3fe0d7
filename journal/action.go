package journal

import "time"

// ActionKind names an action; it is the single key of the header JSON.
type ActionKind string

const (
	ActionAppend ActionKind = "append"
	ActionDelete ActionKind = "delete"
	ActionPurge  ActionKind = "purge"
	ActionMark   ActionKind = "mark"
)

// HeaderKey is the Kafka header that carries the action header JSON.
const HeaderKey = "journal.action"

// ActionHeader is the decoded "journal.action" header: one of *AppendHeader,
// *DeleteHeader, *PurgeHeader, *MarkHeader. Origin and Version "" mean
// absent.
type ActionHeader interface {
	Kind() ActionKind
	HeaderOrigin() string
	HeaderVersion() string
}

// AppendHeader describes an Append: the range of its events and the format
// of the record value.
type AppendHeader struct {
	Range   SeqRange
	Origin  string
	Version string
	// PayloadType is the value format: PayloadBinary or PayloadJSON.
	PayloadType PayloadType
	Metadata    HeaderMetadata
	// Legacy is set by the decoder when the header had no "metadata" field
	// (written by old versions). The encoder always writes "metadata".
	Legacy bool
}

// DeleteHeader deletes every event with seqNr <= To.
type DeleteHeader struct {
	To      SeqNr
	Origin  string
	Version string
}

// PurgeHeader removes the journal.
type PurgeHeader struct {
	Origin  string
	Version string
}

// MarkHeader is a read marker with a random ID.
type MarkHeader struct {
	ID      string
	Origin  string
	Version string
}

func (*AppendHeader) Kind() ActionKind { return ActionAppend }
func (*DeleteHeader) Kind() ActionKind { return ActionDelete }
func (*PurgeHeader) Kind() ActionKind  { return ActionPurge }
func (*MarkHeader) Kind() ActionKind   { return ActionMark }

func (h *AppendHeader) HeaderOrigin() string { return h.Origin }
func (h *DeleteHeader) HeaderOrigin() string { return h.Origin }
func (h *PurgeHeader) HeaderOrigin() string  { return h.Origin }
func (h *MarkHeader) HeaderOrigin() string   { return h.Origin }

func (h *AppendHeader) HeaderVersion() string { return h.Version }
func (h *DeleteHeader) HeaderVersion() string { return h.Version }
func (h *PurgeHeader) HeaderVersion() string  { return h.Version }
func (h *MarkHeader) HeaderVersion() string   { return h.Version }

// Action is one Kafka record of a journal.
type Action struct {
	Key Key
	// Timestamp is the Kafka record timestamp (CreateTime).
	Timestamp time.Time
	Header    ActionHeader
	// Value is the encoded events (Append only; nil otherwise).
	Value []byte
	// Headers are the user headers (Append only).
	Headers Headers
}

// ActionRecord is an action read from Kafka with its position.
type ActionRecord struct {
	Action
	PartitionOffset
}
