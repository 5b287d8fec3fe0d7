package journal

import (
	"fmt"
	"math"
	"strconv"
)

// SeqNr is the 1-based sequence number of an event in a journal, valid in
// [MinSeqNr, MaxSeqNr]. JSON: a number; binary: a big-endian int64.
type SeqNr int64

const (
	// MinSeqNr is the first valid sequence number.
	MinSeqNr SeqNr = 1
	// MaxSeqNr is the last valid sequence number (Long.MaxValue in Scala).
	MaxSeqNr SeqNr = math.MaxInt64
)

// Valid reports whether s is in [MinSeqNr, MaxSeqNr].
func (s SeqNr) Valid() bool { return s >= MinSeqNr }

// Next returns s+1, or false at MaxSeqNr or when s is invalid.
func (s SeqNr) Next() (SeqNr, bool) {
	if !s.Valid() || s == MaxSeqNr {
		return 0, false
	}
	return s + 1, true
}

// Prev returns s-1, or false at MinSeqNr or when s is invalid.
func (s SeqNr) Prev() (SeqNr, bool) {
	if !s.Valid() || s == MinSeqNr {
		return 0, false
	}
	return s - 1, true
}

// String returns the decimal number.
func (s SeqNr) String() string { return strconv.FormatInt(int64(s), 10) }

// Validate returns a *SeqNrError wrapping ErrInvalidSeqNr when s is not valid.
func (s SeqNr) Validate() error {
	if s.Valid() {
		return nil
	}
	return &SeqNrError{SeqNr: int64(s)}
}

// SeqRange is the inclusive range [From, To] of seqNrs, From <= To.
type SeqRange struct {
	From SeqNr `json:"from"`
	To   SeqNr `json:"to"`
}

// SeqRangeAll is [MinSeqNr, MaxSeqNr].
var SeqRangeAll = SeqRange{From: MinSeqNr, To: MaxSeqNr}

// NewSeqRange returns [from, to] or an error wrapping ErrInvalidSeqRange.
func NewSeqRange(from, to SeqNr) (SeqRange, error) {
	r := SeqRange{From: from, To: to}
	return r, r.Validate()
}

// Valid reports whether both ends are valid seqNrs and From <= To.
func (r SeqRange) Valid() bool { return r.From.Valid() && r.To.Valid() && r.From <= r.To }

// Validate returns nil or an error wrapping ErrInvalidSeqRange.
func (r SeqRange) Validate() error {
	if r.Valid() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidSeqRange, r)
}

// Contains reports whether s is in the range.
func (r SeqRange) Contains(s SeqNr) bool { return r.From <= s && s <= r.To }

// Intersects reports whether r and o share at least one seqNr.
func (r SeqRange) Intersects(o SeqRange) bool { return r.From <= o.To && o.From <= r.To }

// String is "N" for a single seqNr, else "N..M" (as the original prints it).
func (r SeqRange) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + ".." + r.To.String()
}
