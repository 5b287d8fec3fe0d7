package journal_test

import (
	"errors"
	"testing"

	"github.com/kjournal/kjournal/journal"
)

func TestSeqNr_NextPrev(t *testing.T) {
	cases := []struct {
		s              journal.SeqNr
		next, prev     journal.SeqNr
		nextOK, prevOK bool
	}{
		{1, 2, 0, true, false},
		{2, 3, 1, true, true},
		{journal.MaxSeqNr, 0, journal.MaxSeqNr - 1, false, true},
		{0, 0, 0, false, false},
		{-3, 0, 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.s.String(), func(t *testing.T) {
			if n, ok := c.s.Next(); n != c.next || ok != c.nextOK {
				t.Errorf("Next = %d, %v", n, ok)
			}
			if p, ok := c.s.Prev(); p != c.prev || ok != c.prevOK {
				t.Errorf("Prev = %d, %v", p, ok)
			}
		})
	}
}

func TestSeqNr_Validate(t *testing.T) {
	if err := journal.SeqNr(1).Validate(); err != nil {
		t.Error(err)
	}
	err := journal.SeqNr(0).Validate()
	var se *journal.SeqNrError
	if !errors.Is(err, journal.ErrInvalidSeqNr) || !errors.As(err, &se) || se.SeqNr != 0 {
		t.Errorf("Validate(0) = %v", err)
	}
}

func TestSeqRange_String(t *testing.T) {
	cases := map[journal.SeqRange]string{
		{From: 1, To: 1}:                  "1",
		{From: 1, To: 5}:                  "1..5",
		{From: 1, To: journal.MaxSeqNr}:   "1..9223372036854775807",
		{From: journal.MaxSeqNr, To: 1}:   "9223372036854775807..1",
		journal.SeqRangeAll:               "1..9223372036854775807",
		{From: 10, To: 20}:                "10..20",
		{From: 7, To: 7}:                  "7",
		{From: journal.MinSeqNr, To: 100}: "1..100",
	}
	for r, want := range cases {
		if got := r.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", r, got, want)
		}
	}
}

func TestSeqRange_Validate(t *testing.T) {
	cases := []struct {
		r  journal.SeqRange
		ok bool
	}{
		{journal.SeqRange{From: 1, To: 1}, true},
		{journal.SeqRange{From: 2, To: 1}, false},
		{journal.SeqRange{From: 0, To: 1}, false},
		{journal.SeqRangeAll, true},
	}
	for _, c := range cases {
		t.Run(c.r.String(), func(t *testing.T) {
			err := c.r.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, journal.ErrInvalidSeqRange)) {
				t.Errorf("Validate = %v", err)
			}
			if _, err := journal.NewSeqRange(c.r.From, c.r.To); (err == nil) != c.ok {
				t.Errorf("NewSeqRange = %v", err)
			}
		})
	}
}

func TestSeqRange_ContainsIntersects(t *testing.T) {
	r := journal.SeqRange{From: 3, To: 5}
	for s, want := range map[journal.SeqNr]bool{2: false, 3: true, 4: true, 5: true, 6: false} {
		if r.Contains(s) != want {
			t.Errorf("Contains(%d) != %v", s, want)
		}
	}
	for o, want := range map[journal.SeqRange]bool{
		{From: 1, To: 2}: false, {From: 1, To: 3}: true, {From: 5, To: 9}: true, {From: 6, To: 9}: false, {From: 4, To: 4}: true, {From: 1, To: 9}: true,
	} {
		if r.Intersects(o) != want {
			t.Errorf("Intersects(%v) != %v", o, want)
		}
	}
}

func TestKey_String(t *testing.T) {
	k := journal.Key{Topic: "journal", ID: "order-42"}
	if k.String() != "journal:order-42" {
		t.Errorf("got %q", k.String())
	}
	if err := k.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []journal.Key{{Topic: "t"}, {ID: "i"}} {
		if err := bad.Validate(); !errors.Is(err, journal.ErrInvalidKey) {
			t.Errorf("Validate(%v) = %v", bad, err)
		}
	}
}

func TestKey_Compare(t *testing.T) {
	a, b, c := journal.Key{Topic: "a", ID: "z"}, journal.Key{Topic: "b", ID: "a"}, journal.Key{Topic: "b", ID: "b"}
	if a.Compare(b) != -1 || b.Compare(c) != -1 || c.Compare(a) != 1 || b.Compare(b) != 0 {
		t.Error("Compare orders by topic, then id")
	}
}

func TestPartitionOffset_String(t *testing.T) {
	p := journal.PartitionOffset{Partition: 3, Offset: 1234}
	if p.String() != "3:1234" {
		t.Errorf("got %q", p.String())
	}
	if (journal.PartitionOffset{}).String() != "0:0" {
		t.Error("empty")
	}
	if p.Compare(journal.PartitionOffset{Partition: 3, Offset: 1235}) != -1 || p.Compare(journal.PartitionOffset{Partition: 2, Offset: 9999}) != 1 {
		t.Error("Compare orders by partition, then offset")
	}
}

func TestPayloadType_Valid(t *testing.T) {
	for pt, want := range map[journal.PayloadType]bool{"binary": true, "text": true, "json": true, "": false, "JSON": false} {
		if pt.Valid() != want {
			t.Errorf("%q.Valid() != %v", pt, want)
		}
	}
}
