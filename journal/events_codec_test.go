package journal_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kjournal/kjournal/journal"
)

func TestEvents_EncodeChoosesFormat(t *testing.T) {
	cases := []struct {
		name   string
		events []journal.Event
		want   journal.PayloadType
	}{
		{"none", []journal.Event{{SeqNr: 1}}, journal.PayloadJSON},
		{"text and json", []journal.Event{{SeqNr: 1, Payload: journal.TextPayload("t")}, {SeqNr: 2, Payload: journal.JSONPayload(json.RawMessage(`1`))}}, journal.PayloadJSON},
		{"one binary", []journal.Event{{SeqNr: 1, Payload: journal.TextPayload("t")}, {SeqNr: 2, Payload: journal.BinaryPayload([]byte{0})}}, journal.PayloadBinary},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, pt, err := journal.EncodeEvents(c.events, journal.PayloadMetadata{})
			if err != nil || pt != c.want {
				t.Errorf("got %q, %v; want %q", pt, err, c.want)
			}
		})
	}
}

func TestEvents_EncodeJSON(t *testing.T) {
	events := []journal.Event{
		{SeqNr: 1, Tags: []string{"b", "a", "b"}, Payload: journal.JSONPayload(json.RawMessage(" {\"x\" : \"<\\u00e9\\/>\" } "))},
		{SeqNr: 2, Payload: journal.TextPayload("line\nq\"")},
		{SeqNr: 3},
	}
	md := journal.PayloadMetadata{ExpireAfter: 90 * time.Minute, Data: json.RawMessage(`{"k":1}`)}
	got, err := journal.EncodeEventsJSON(events, md)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"events":[{"seqNr":1,"tags":["b","a"],"payloadType":"json","payload":{"x":"<é/>"}},` +
		`{"seqNr":2,"tags":[],"payloadType":"text","payload":"line\nq\""},{"seqNr":3,"tags":[]}],` +
		`"metadata":{"expireAfter":"90 minutes","data":{"k":1}}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEvents_EncodeInvalid(t *testing.T) {
	cases := []struct {
		name   string
		events []journal.Event
		md     journal.PayloadMetadata
	}{
		{"no events", nil, journal.PayloadMetadata{}},
		{"seqNr 0", []journal.Event{{SeqNr: 0}}, journal.PayloadMetadata{}},
		{"negative seqNr", []journal.Event{{SeqNr: -5}}, journal.PayloadMetadata{}},
		{"unknown type", []journal.Event{{SeqNr: 1, Payload: journal.Payload{Type: "xml"}}}, journal.PayloadMetadata{}},
		{"bad json", []journal.Event{{SeqNr: 1, Payload: journal.JSONPayload(json.RawMessage(`{`))}}, journal.PayloadMetadata{}},
		{"empty json", []journal.Event{{SeqNr: 1, Payload: journal.JSONPayload(nil)}}, journal.PayloadMetadata{}},
		{"two json values", []journal.Event{{SeqNr: 1, Payload: journal.JSONPayload(json.RawMessage(`1 2`))}}, journal.PayloadMetadata{}},
		{"text not utf-8", []journal.Event{{SeqNr: 1, Payload: journal.Payload{Type: journal.PayloadText, Data: []byte{0xff}}}}, journal.PayloadMetadata{}},
		{"tag not utf-8", []journal.Event{{SeqNr: 1, Tags: []string{"\xff"}}}, journal.PayloadMetadata{}},
		{"bad metadata", []journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{Data: json.RawMessage(`{"a"}`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for format, enc := range map[string]func([]journal.Event, journal.PayloadMetadata) ([]byte, error){
				"json": journal.EncodeEventsJSON, "binary": journal.EncodeEventsBinary,
			} {
				if _, err := enc(c.events, c.md); !errors.Is(err, journal.ErrInvalidEvents) {
					t.Errorf("%s: err = %v, want ErrInvalidEvents", format, err)
				}
			}
		})
	}
	t.Run("binary in json", func(t *testing.T) {
		_, err := journal.EncodeEventsJSON([]journal.Event{{SeqNr: 1, Payload: journal.BinaryPayload(nil)}}, journal.PayloadMetadata{})
		if !errors.Is(err, journal.ErrInvalidEvents) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEvents_DecodeJSON(t *testing.T) {
	cases := []struct {
		name, in string
		want     []journal.Event
		md       journal.PayloadMetadata
	}{
		{"v0 without metadata", `{"events":[{"seqNr":1,"tags":[],"payloadType":"text","payload":"a"}]}`,
			[]journal.Event{{SeqNr: 1, Payload: journal.TextPayload("a")}}, journal.PayloadMetadata{}},
		{"metadata null", `{"events":[{"seqNr":1,"tags":[]}],"metadata":null}`, []journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{}},
		{"payload without type is json", `{"events":[{"seqNr":2,"tags":["z","a","z"],"payload":{"b": 1}}]}`,
			[]journal.Event{{SeqNr: 2, Tags: []string{"a", "z"}, Payload: journal.JSONPayload(json.RawMessage(`{"b":1}`))}}, journal.PayloadMetadata{}},
		{"null payload is none", `{"events":[{"seqNr":1,"tags":[],"payloadType":"json","payload":null}]}`, []journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{}},
		{"type without payload is none", `{"events":[{"seqNr":1,"tags":[],"payloadType":"text"}]}`, []journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{}},
		{"expireAfter millis", `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":1500,"data":null}}`,
			[]journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{ExpireAfter: 1500 * time.Millisecond}},
		{"expireAfter abbreviation", `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":"2h"}}`,
			[]journal.Event{{SeqNr: 1}}, journal.PayloadMetadata{ExpireAfter: 2 * time.Hour}},
		{"max seqNr", `{"events":[{"seqNr":9223372036854775807,"tags":[]}]}`, []journal.Event{{SeqNr: journal.MaxSeqNr}}, journal.PayloadMetadata{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, md, err := journal.DecodeEvents([]byte(c.in), journal.PayloadJSON)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(md, c.md) {
				t.Errorf("got %+v %+v, want %+v %+v", got, md, c.want, c.md)
			}
		})
	}
}

func TestEvents_DecodeJSONMalformed(t *testing.T) {
	cases := map[string]string{
		"empty":              ``,
		"not json":           `{"events":`,
		"array":              `[]`,
		"no events":          `{}`,
		"empty events":       `{"events":[]}`,
		"events not array":   `{"events":{}}`,
		"event not object":   `{"events":[1]}`,
		"no seqNr":           `{"events":[{"tags":[]}]}`,
		"seqNr 0":            `{"events":[{"seqNr":0,"tags":[]}]}`,
		"no tags":            `{"events":[{"seqNr":1}]}`,
		"tags null":          `{"events":[{"seqNr":1,"tags":null}]}`,
		"tag not string":     `{"events":[{"seqNr":1,"tags":[1]}]}`,
		"binary payloadType": `{"events":[{"seqNr":1,"tags":[],"payloadType":"binary","payload":"AA=="}]}`,
		"text not string":    `{"events":[{"seqNr":1,"tags":[],"payloadType":"text","payload":1}]}`,
		"metadata array":     `{"events":[{"seqNr":1,"tags":[]}],"metadata":[]}`,
		"bad expireAfter":    `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":"1 fortnight"}}`,
		"infinite duration":  `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":"Inf"}}`,
		"fraction millis":    `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":1.5}}`,
		"bool expireAfter":   `{"events":[{"seqNr":1,"tags":[]}],"metadata":{"expireAfter":true}}`,
		"invalid utf-8":      "{\"events\":[{\"seqNr\":1,\"tags\":[\"\xff\"]}]}",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := journal.DecodeEvents([]byte(in), journal.PayloadJSON); !errors.Is(err, journal.ErrMalformedEvents) {
				t.Errorf("err = %v, want ErrMalformedEvents", err)
			}
		})
	}
}

func TestEvents_DecodeUnsupportedType(t *testing.T) {
	for _, pt := range []journal.PayloadType{journal.PayloadText, "", "xml"} {
		if _, _, err := journal.DecodeEvents([]byte(`{}`), pt); !errors.Is(err, journal.ErrUnsupportedPayloadType) {
			t.Errorf("%q: err = %v", pt, err)
		}
	}
}

// binEvent builds one binary event (with its size prefix) by hand.
func binEvent(seqNr int64, tags [][]byte, kind byte, payload []byte) []byte {
	var e []byte
	e = binary.BigEndian.AppendUint64(e, uint64(seqNr))
	var tb []byte
	for _, t := range tags {
		tb = binary.BigEndian.AppendUint32(tb, uint32(len(t)))
		tb = append(tb, t...)
	}
	e = binary.BigEndian.AppendUint32(e, uint32(len(tb)))
	e = append(e, tb...)
	e = append(e, kind)
	e = binary.BigEndian.AppendUint32(e, uint32(len(payload)))
	e = append(e, payload...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(e))), e...)
}

func binValue(version byte, count uint32, events ...[]byte) []byte {
	v := binary.BigEndian.AppendUint32([]byte{version}, count)
	for _, e := range events {
		v = append(v, e...)
	}
	return v
}

func TestEvents_DecodeBinary(t *testing.T) {
	t.Run("bytes left in an event are ignored", func(t *testing.T) {
		e := binEvent(1, nil, 3, []byte("hi"))
		e = append(e, 9, 9, 9)
		binary.BigEndian.PutUint32(e, binary.BigEndian.Uint32(e)+3)
		got, _, err := journal.DecodeEvents(binValue(0, 1, e), journal.PayloadBinary)
		if err != nil || !reflect.DeepEqual(got, []journal.Event{{SeqNr: 1, Payload: journal.TextPayload("hi")}}) {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("payload bytes of a payload-less event are ignored", func(t *testing.T) {
		got, _, err := journal.DecodeEvents(binValue(0, 1, binEvent(5, nil, 0, []byte("xyz"))), journal.PayloadBinary)
		if err != nil || !reflect.DeepEqual(got, []journal.Event{{SeqNr: 5}}) {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("json payload is compacted", func(t *testing.T) {
		got, _, err := journal.DecodeEvents(binValue(0, 1, binEvent(5, nil, 2, []byte(` [ 1 ] `))), journal.PayloadBinary)
		if err != nil || string(got[0].Payload.Data) != `[1]` {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("fewer events than counted, v0", func(t *testing.T) {
		// The original rejects a count the events do not fill.
		_, _, err := journal.DecodeEvents(binValue(0, 2, binEvent(1, nil, 0, nil)), journal.PayloadBinary)
		if !errors.Is(err, journal.ErrMalformedEvents) {
			t.Errorf("err = %v", err)
		}
	})

	good := binEvent(1, [][]byte{[]byte("t")}, 1, []byte{1, 2})
	huge := binary.BigEndian.AppendUint32(nil, 0x7fffffff)
	cases := map[string][]byte{
		"empty":                {},
		"version only":         {1},
		"short count":          {1, 0, 0},
		"zero events":          binValue(1, 0),
		"negative count":       binValue(1, 0x80000000, good),
		"huge count":           binValue(1, 0x7fffffff, good),
		"event size too large": append(binValue(1, 1), append(huge, good[4:]...)...),
		"negative event size":  append(binValue(1, 1), 0xff, 0xff, 0xff, 0xff),
		"truncated event":      binValue(1, 1, good[:len(good)-1]),
		"seqNr 0":              binValue(1, 1, binEvent(0, nil, 0, nil)),
		"negative seqNr":       binValue(1, 1, binEvent(-1, nil, 0, nil)),
		"tag not utf-8":        binValue(1, 1, binEvent(1, [][]byte{{0xff}}, 0, nil)),
		"text not utf-8":       binValue(1, 1, binEvent(1, nil, 3, []byte{0xc3})),
		"json invalid":         binValue(1, 1, binEvent(1, nil, 2, []byte(`{`))),
		"json empty":           binValue(1, 1, binEvent(1, nil, 2, nil)),
		"unknown kind":         binValue(1, 1, binEvent(1, nil, 4, nil)),
	}
	// Tag block with a partial tag, and a tag length beyond the block.
	partial := binEvent(1, nil, 0, nil)
	cases["tag block with stray bytes"] = binValue(1, 1, withTagBlock(partial, []byte{0, 0}))
	cases["tag length beyond block"] = binValue(1, 1, withTagBlock(partial, []byte{0, 0, 0, 9, 'a'}))
	cases["tags size beyond event"] = binValue(1, 1, withTagBlockSize(partial, 0x7fffffff))
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := journal.DecodeEvents(v, journal.PayloadBinary); !errors.Is(err, journal.ErrMalformedEvents) {
				t.Errorf("err = %v, want ErrMalformedEvents", err)
			}
		})
	}
}

// withTagBlock replaces the (empty) tag block of a payload-less event made
// by binEvent(seqNr, nil, 0, nil).
func withTagBlock(e, block []byte) []byte {
	var body []byte
	body = append(body, e[4:12]...)
	body = binary.BigEndian.AppendUint32(body, uint32(len(block)))
	body = append(body, block...)
	body = append(body, 0, 0, 0, 0, 0)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func withTagBlockSize(e []byte, size uint32) []byte {
	out := slices.Clone(e)
	binary.BigEndian.PutUint32(out[12:], size)
	return out
}

// randomEvents makes a batch covering every payload kind, no payload, tags,
// empty and large payloads, seqNr 1 and MaxSeqNr.
func randomEvents(r *rand.Rand, allowBinary bool) []journal.Event {
	n := 1 + r.IntN(5)
	events := make([]journal.Event, n)
	for i := range events {
		e := &events[i]
		switch r.IntN(4) {
		case 0:
			e.SeqNr = journal.MinSeqNr
		case 1:
			e.SeqNr = journal.MaxSeqNr
		default:
			e.SeqNr = journal.SeqNr(1 + r.Int64N(1<<62))
		}
		for range r.IntN(7) {
			e.Tags = append(e.Tags, randomString(r, 6))
		}
		kinds := []journal.PayloadType{"", journal.PayloadText, journal.PayloadJSON}
		if allowBinary {
			kinds = append(kinds, journal.PayloadBinary)
		}
		size := r.IntN(40)
		switch r.IntN(30) {
		case 0, 1, 2:
			size = 0
		case 3:
			size = 1<<20 + r.IntN(100) // ~1 MiB
		}
		switch kinds[r.IntN(len(kinds))] {
		case journal.PayloadText:
			e.Payload = journal.TextPayload(randomString(r, size))
		case journal.PayloadBinary:
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			e.Payload = journal.BinaryPayload(b)
		case journal.PayloadJSON:
			e.Payload = journal.JSONPayload(randomJSON(r, size))
		}
	}
	return events
}

func randomString(r *rand.Rand, n int) string {
	alphabet := []rune("abc xyz019\"\\/\n\t\x00\x1f\x7fé€😀\u2028<>&")
	var sb strings.Builder
	for range n {
		sb.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

// randomJSON returns a JSON value of roughly size bytes, pretty-printed so
// that the encoder has something to compact.
func randomJSON(r *rand.Rand, size int) json.RawMessage {
	var v any
	switch r.IntN(4) {
	case 0:
		v = randomString(r, size)
	case 1:
		v = r.Int64N(1000) - 500
	case 2:
		m := map[string]any{}
		for i := range 1 + size/40 {
			m[fmt.Sprintf("k%d", i)] = []any{randomString(r, 20), true, nil, 1.5}
		}
		v = m
	default:
		v = []any{randomString(r, size), false}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

func randomMetadata(r *rand.Rand) journal.PayloadMetadata {
	var md journal.PayloadMetadata
	if r.IntN(2) == 0 {
		units := []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second, time.Minute, time.Hour, 24 * time.Hour}
		md.ExpireAfter = time.Duration(1+r.Int64N(1000)) * units[r.IntN(len(units))]
	}
	if r.IntN(2) == 0 {
		md.Data = randomJSON(r, r.IntN(50))
	}
	return md
}

// normalized is what decoding returns for events: sorted unique tags,
// compact JSON payloads, and nil tags for none.
func normalized(t testing.TB, events []journal.Event) []journal.Event {
	out := make([]journal.Event, len(events))
	for i, e := range events {
		out[i] = e
		tags := slices.Clone(e.Tags)
		slices.Sort(tags)
		out[i].Tags = slices.Compact(tags)
		if len(out[i].Tags) == 0 {
			out[i].Tags = nil
		}
		if e.Payload.Type == journal.PayloadJSON {
			var buf bytes.Buffer
			if err := json.Compact(&buf, e.Payload.Data); err != nil {
				t.Fatal(err)
			}
			out[i].Payload.Data = unescapeForCompare(t, buf.Bytes())
		}
	}
	return out
}

// unescapeForCompare rewrites JSON the way the codec writes it (strings with
// minimal escaping), using the codec itself on a trusted path: a JSON
// round-trip through a text payload in the JSON format.
func unescapeForCompare(t testing.TB, raw []byte) []byte {
	b, err := journal.EncodeEventsJSON([]journal.Event{{SeqNr: 1, Payload: journal.JSONPayload(raw)}}, journal.PayloadMetadata{})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `{"events":[{"seqNr":1,"tags":[],"payloadType":"json","payload":`
	return b[len(prefix) : len(b)-len(`}],"metadata":{}}`)]
}

func TestEvents_RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		allowBinary := i%2 == 0
		events := randomEvents(r, allowBinary)
		md := randomMetadata(r)
		name := fmt.Sprintf("%d", i)
		value, pt, err := journal.EncodeEvents(events, md)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		got, gotMD, err := journal.DecodeEvents(value, pt)
		if err != nil {
			t.Fatalf("%s: decode (%s): %v", name, pt, err)
		}
		want := normalized(t, events)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %s events differ\n got %.300v\nwant %.300v", name, pt, got, want)
		}
		wantMD := md
		if md.Data != nil {
			wantMD.Data = unescapeForCompare(t, md.Data)
		}
		if !reflect.DeepEqual(gotMD, wantMD) {
			t.Fatalf("%s: metadata differs: got %+v want %+v", name, gotMD, wantMD)
		}
		// Every batch also round-trips through the binary format, and
		// encoding what we decoded is stable.
		bin, err := journal.EncodeEventsBinary(events, md)
		if err != nil {
			t.Fatal(err)
		}
		got2, gotMD2, err := journal.DecodeEvents(bin, journal.PayloadBinary)
		if err != nil || !reflect.DeepEqual(got2, want) || !reflect.DeepEqual(gotMD2, wantMD) {
			t.Fatalf("%s: binary round trip: %v", name, err)
		}
		again, _, err := journal.EncodeEvents(got, gotMD)
		if err != nil {
			t.Fatal(err)
		}
		if again2, _, _ := journal.EncodeEvents(got2, gotMD2); !bytes.Equal(again, again2) {
			t.Fatalf("%s: re-encoding is not stable", name)
		}
	}
}

func TestEvents_JSONStringsAreValidUTF8(t *testing.T) {
	// Every text payload string survives the JSON format exactly.
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := randomString(r, r.IntN(30))
		if !utf8.ValidString(s) {
			t.Fatal("bad generator")
		}
		v, err := journal.EncodeEventsJSON([]journal.Event{{SeqNr: 1, Payload: journal.TextPayload(s)}}, journal.PayloadMetadata{})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(v) {
			t.Fatalf("invalid JSON %q", v)
		}
		got, _, err := journal.DecodeEvents(v, journal.PayloadJSON)
		if err != nil || string(got[0].Payload.Data) != s {
			t.Fatalf("%q: got %q, %v", s, got, err)
		}
	}
}
