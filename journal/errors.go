package journal

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of them; test
// with errors.Is.
var (
	// ErrInvalidSeqNr: a seqNr outside [MinSeqNr, MaxSeqNr].
	ErrInvalidSeqNr = errors.New("journal: invalid seqNr")
	// ErrInvalidSeqRange: a range with From > To or an invalid end.
	ErrInvalidSeqRange = errors.New("journal: invalid seqNr range")
	// ErrInvalidKey: a key with an empty topic or id.
	ErrInvalidKey = errors.New("journal: invalid key")
	// ErrMalformedHeader: the "journal.action" header is not valid JSON of
	// a known shape.
	ErrMalformedHeader = errors.New("journal: malformed action header")
	// ErrMalformedEvents: an Append value that decodes in no known format.
	ErrMalformedEvents = errors.New("journal: malformed events")
	// ErrInvalidEvents: events that cannot be encoded (no events, invalid
	// seqNr, unknown payload type, invalid JSON payload).
	ErrInvalidEvents = errors.New("journal: invalid events")
	// ErrUnsupportedPayloadType: a payload type that is not allowed where
	// it appears (for example "text" as a record payload type).
	ErrUnsupportedPayloadType = errors.New("journal: unsupported payload type")
	// ErrInvalidDuration: an expireAfter that is not a Scala duration
	// string or a number of milliseconds.
	ErrInvalidDuration = errors.New("journal: invalid duration")
)

// SeqNrError reports an invalid seqNr; it wraps ErrInvalidSeqNr.
type SeqNrError struct{ SeqNr int64 }

func (e *SeqNrError) Error() string {
	return "journal: invalid seqNr of " + strconv.FormatInt(e.SeqNr, 10) + ", it must be greater or equal to 1"
}
func (e *SeqNrError) Unwrap() error { return ErrInvalidSeqNr }

// KeyError reports an invalid key; it wraps ErrInvalidKey.
type KeyError struct{ Key Key }

func (e *KeyError) Error() string { return fmt.Sprintf("journal: invalid key %q", e.Key.String()) }
func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// DecodeError reports where decoding failed. Err is one of the sentinels
// (ErrMalformedHeader, ErrMalformedEvents, ...), Offset the byte offset in
// the input when known (-1 otherwise), Reason a short description.
type DecodeError struct {
	Err    error
	Offset int
	Reason string
}

func (e *DecodeError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%v: %s at byte %d", e.Err, e.Reason, e.Offset)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}
func (e *DecodeError) Unwrap() error { return e.Err }
