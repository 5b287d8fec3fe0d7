package journal_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/kjournal/kjournal/journal"
)

// Run with (see the Makefile's fuzz target):
//
//	go test ./journal/ -run '^$' -fuzz '^FuzzDecodeActionHeader$' -fuzztime 60s
//	go test ./journal/ -run '^$' -fuzz '^FuzzDecodeEvents$' -fuzztime 60s
//	go test ./journal/ -run '^$' -fuzz '^FuzzParseExpireAfter$' -fuzztime 30s
//
// Without -fuzz, the seeds run as ordinary tests.

func FuzzDecodeActionHeader(f *testing.F) {
	for _, e := range loadManifest(f) {
		if e.Kind == "action-header" {
			f.Add(readCompat(f, e.File))
		}
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"new":{}}`, `{"append":1}`, `{"delete":{"to":1e2}}`,
		`{"mark":{"id":"\u0000\ud800"}}`, `{"append":{"range":{"from":1,"to":1},"payloadType":"json","metadata":{"data":{"a":[1,2,{"b":null}]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := journal.DecodeActionHeader(b)
		if want, wantErr := journal.DecodeActionHeaderGeneric(b); !reflect.DeepEqual(h, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeActionHeader(%q) = %#v, %v; the generic decoder gives %#v, %v", b, h, err, want, wantErr)
		}
		if err != nil || h == nil {
			return
		}
		enc, err := journal.EncodeActionHeader(h)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", h, err)
		}
		again, err := journal.DecodeActionHeader(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		if a, ok := h.(*journal.AppendHeader); ok {
			a.Legacy = false // the encoder always writes metadata
		}
		if !reflect.DeepEqual(again, h) {
			t.Fatalf("round trip changed the header\n got %#v\nwant %#v", again, h)
		}
	})
}

func FuzzDecodeEvents(f *testing.F) {
	for _, e := range loadManifest(f) {
		switch e.Kind {
		case "record-value-json":
			f.Add(readCompat(f, e.File), false)
		case "record-value-binary", "events-binary":
			f.Add(readCompat(f, e.File), true)
		}
	}
	f.Add([]byte{}, true)
	f.Add([]byte{0, 0, 0, 0, 1}, true)
	f.Add([]byte(`{"events":[{"seqNr":1,"tags":[]}]}`), false)
	f.Fuzz(func(t *testing.T, value []byte, binary bool) {
		pt := journal.PayloadJSON
		if binary {
			pt = journal.PayloadBinary
		}
		events, md, err := journal.DecodeEvents(value, pt)
		if err != nil {
			return
		}
		// What we decoded must encode, in the same format, and decode to
		// the same value.
		var enc []byte
		if binary {
			enc, err = journal.EncodeEventsBinary(events, md)
		} else {
			enc, err = journal.EncodeEventsJSON(events, md)
		}
		if err != nil {
			t.Fatalf("decoded events do not encode: %v", err)
		}
		events2, md2, err := journal.DecodeEvents(enc, pt)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if !reflect.DeepEqual(events2, events) || !reflect.DeepEqual(md2, md) {
			t.Fatalf("round trip changed the events\n got %+v %+v\nwant %+v %+v", events2, md2, events, md)
		}
	})
}

func FuzzParseExpireAfter(f *testing.F) {
	for _, s := range []string{"1 day", "2 minutes", "500 milliseconds", "1.5h", " 7 µs", "9223372036854775807ns", "1e3 ms", "-1 days", "0x1p4 s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := journal.ParseExpireAfter(s)
		if err != nil {
			return
		}
		// What we write for any duration we read must read back the same,
		// up to the float64 rounding Scala's parser applies to lengths of
		// at most 2^53 (it multiplies them as doubles): a concern only for
		// durations of centuries.
		out := journal.FormatExpireAfter(d)
		back, err := journal.ParseExpireAfter(out)
		if err != nil || math.Abs(float64(back)-float64(d)) > math.Abs(float64(d))*0x1p-52 {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, out, back, err)
		}
	})
}
