package journal_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/kjournal/kjournal/journal"
)

func TestActionHeader_Encode(t *testing.T) {
	cases := []struct {
		name string
		h    journal.ActionHeader
		want string
	}{
		{"append", &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 5}, Origin: "o", Version: "11.0.0", PayloadType: journal.PayloadJSON},
			`{"append":{"range":{"from":1,"to":5},"origin":"o","version":"11.0.0","payloadType":"json","metadata":{}}}`},
		{"append metadata", &journal.AppendHeader{Range: journal.SeqRange{From: 3, To: 3}, PayloadType: journal.PayloadBinary,
			Metadata: journal.HeaderMetadata{Data: json.RawMessage(`{ "k" : [1, "<&>"] }`)}, Legacy: true},
			`{"append":{"range":{"from":3,"to":3},"payloadType":"binary","metadata":{"data":{"k":[1,"<&>"]}}}}`},
		{"append null data", &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadJSON,
			Metadata: journal.HeaderMetadata{Data: json.RawMessage(`null`)}},
			`{"append":{"range":{"from":1,"to":1},"payloadType":"json","metadata":{}}}`},
		{"delete", &journal.DeleteHeader{To: journal.MaxSeqNr, Version: "v"}, `{"delete":{"to":9223372036854775807,"version":"v"}}`},
		{"purge", &journal.PurgeHeader{}, `{"purge":{}}`},
		{"purge version", &journal.PurgeHeader{Version: "1"}, `{"purge":{"version":"1"}}`},
		{"mark", &journal.MarkHeader{ID: "a\"b\\c\n\x01\x7fé", Origin: "host"}, `{"mark":{"id":"a\"b\\c\n\u0001\u007fé","origin":"host"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := journal.EncodeActionHeader(c.h)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestActionHeader_EncodeInvalid(t *testing.T) {
	cases := map[string]journal.ActionHeader{
		"nil":             nil,
		"nil append":      (*journal.AppendHeader)(nil),
		"range from > to": &journal.AppendHeader{Range: journal.SeqRange{From: 2, To: 1}, PayloadType: journal.PayloadJSON},
		"range zero":      &journal.AppendHeader{Range: journal.SeqRange{From: 0, To: 1}, PayloadType: journal.PayloadJSON},
		"text type":       &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadText},
		"bad metadata":    &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadJSON, Metadata: journal.HeaderMetadata{Data: json.RawMessage(`{`)}},
		"delete to 0":     &journal.DeleteHeader{},
		"origin not utf8": &journal.PurgeHeader{Origin: "\xff"},
		"id not utf8":     &journal.MarkHeader{ID: "a\xc3"},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := journal.EncodeActionHeader(h); !errors.Is(err, journal.ErrMalformedHeader) {
				t.Errorf("err = %v, want ErrMalformedHeader", err)
			}
		})
	}
}

func TestActionHeader_Decode(t *testing.T) {
	cases := []struct {
		name, in string
		want     journal.ActionHeader
	}{
		{"unknown kind is ignored", `{"new":{}}`, nil},
		{"empty object is ignored", `{}`, nil},
		{"not an object is ignored", `[1,2]`, nil},
		{"string is ignored", `"append"`, nil},
		{"non-object value skips the kind", `{"append":1,"purge":{"origin":"o"}}`, &journal.PurgeHeader{Origin: "o"}},
		{"append wins over the others", `{"purge":{},"delete":{"to":1},"mark":{"id":"x"},"append":{"range":{"from":1,"to":2},"payloadType":"json","metadata":{}}}`,
			&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 2}, PayloadType: journal.PayloadJSON}},
		{"mark before delete", `{"delete":{"to":1},"mark":{"id":"x"}}`, &journal.MarkHeader{ID: "x"}},
		{"delete before purge", `{"purge":{},"delete":{"to":7}}`, &journal.DeleteHeader{To: 7}},
		{"null origin is absent", `{"purge":{"origin":null,"version":"v"}}`, &journal.PurgeHeader{Version: "v"}},
		{"unknown fields are ignored", `{"mark":{"id":"x","extra":[1]}}`, &journal.MarkHeader{ID: "x"}},
		{"integral float seqNr", `{"delete":{"to":3.0}}`, &journal.DeleteHeader{To: 3}},
		{"exponent seqNr", `{"delete":{"to":3e2}}`, &journal.DeleteHeader{To: 300}},
		{"legacy metadata null", `{"append":{"range":{"from":1,"to":1},"payloadType":"binary","metadata":null}}`,
			&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadBinary, Legacy: true}},
		{"legacy metadata string", `{"append":{"range":{"from":1,"to":1},"payloadType":"binary","metadata":"x"}}`,
			&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadBinary, Legacy: true}},
		{"metadata data null", `{"append":{"range":{"from":1,"to":1},"payloadType":"binary","metadata":{"data":null}}}`,
			&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadBinary}},
		{"metadata data compacted", `{"append":{"range":{"from":1,"to":1},"payloadType":"json","metadata":{"data": [ 1 , "\u0041" ]}}}`,
			&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadJSON, Metadata: journal.HeaderMetadata{Data: json.RawMessage(`[1,"A"]`)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := journal.DecodeActionHeader([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestActionHeader_DecodeMalformed(t *testing.T) {
	cases := map[string]string{
		"empty":                 ``,
		"not json":              `{"append"`,
		"trailing data":         `{} {}`,
		"append without range":  `{"append":{"payloadType":"json"}}`,
		"append from > to":      `{"append":{"range":{"from":2,"to":1},"payloadType":"json"}}`,
		"append seqNr 0":        `{"append":{"range":{"from":0,"to":1},"payloadType":"json"}}`,
		"append seqNr overflow": `{"append":{"range":{"from":1,"to":9223372036854775808},"payloadType":"json"}}`,
		"append fraction":       `{"append":{"range":{"from":1.5,"to":2},"payloadType":"json"}}`,
		"append text type":      `{"append":{"range":{"from":1,"to":1},"payloadType":"text"}}`,
		"append no type":        `{"append":{"range":{"from":1,"to":1}}}`,
		"delete without to":     `{"delete":{}}`,
		"delete negative":       `{"delete":{"to":-1}}`,
		"delete string to":      `{"delete":{"to":"1"}}`,
		"mark without id":       `{"mark":{}}`,
		"mark numeric id":       `{"mark":{"id":1}}`,
		"origin not a string":   `{"purge":{"origin":1}}`,
		"version not a string":  `{"purge":{"version":{}}}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := journal.DecodeActionHeader([]byte(in))
			if !errors.Is(err, journal.ErrMalformedHeader) {
				t.Errorf("got %#v, %v; want ErrMalformedHeader", h, err)
			}
			var de *journal.DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Errorf("error %v is not a *DecodeError", err)
			}
		})
	}
}

func TestActionHeader_RoundTrip(t *testing.T) {
	headers := []journal.ActionHeader{
		&journal.AppendHeader{Range: journal.SeqRange{From: 1, To: journal.MaxSeqNr}, Origin: "ö", Version: "1", PayloadType: journal.PayloadBinary, Metadata: journal.HeaderMetadata{Data: json.RawMessage(`{"a":{"b":null}}`)}},
		&journal.AppendHeader{Range: journal.SeqRange{From: 42, To: 42}, PayloadType: journal.PayloadJSON},
		&journal.DeleteHeader{To: 1, Origin: "o", Version: "v"},
		&journal.PurgeHeader{Origin: "\u2028"},
		&journal.MarkHeader{ID: "", Version: "v"},
	}
	for _, h := range headers {
		t.Run(string(h.Kind()), func(t *testing.T) {
			b, err := journal.EncodeActionHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := journal.DecodeActionHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, h) {
				t.Errorf("got %#v, want %#v (%s)", got, h, b)
			}
		})
	}
}

// TestDecodeActionHeader_Marks: the shortcuts for marks and appends in their usual form give exactly
// what the generic decoder gives, for the headers kjournal writes and for near misses.
func TestDecodeActionHeader_Marks(t *testing.T) {
	var in []string
	for _, h := range []*journal.MarkHeader{{ID: "0b8f-4c2a"}, {ID: "m", Origin: "host-1"}, {ID: "m", Origin: "o", Version: "kjournal-0.1.0"}, {ID: "m", Version: "v"}} {
		b, err := journal.EncodeActionHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, string(b))
	}
	in = append(in, `{"mark":{"id":"m","origin":"ü"}}`,
		`{"mark":{"id":"m"},"append":{}}`, `{"mark":{"id":5}}`, `{"mark":{"id":"a\"b"}}`, `{"mark":{"id":"m"}}x`,
		`{"mark":{"id":"m","version":"v","origin":"o"}}`, `{"mark":{"id":"m"`, `{"mark":{"id":"`+"\xff"+`"}}`,
		` {"mark":{"id":"m"}}`, `{"mark":{"id":"m","origin":null}}`, `{"mark":{"id":"m","origin":""}}`,
		`{"append":{"range":{"from":1,"to":5},"origin":"o","version":"v","payloadType":"json","metadata":{}}}`,
		`{"append":{"range":{"from":3,"to":3},"payloadType":"binary","metadata":{}}}`,
		`{"append":{"range":{"from":5,"to":3},"payloadType":"binary","metadata":{}}}`,
		`{"append":{"range":{"from":0,"to":3},"payloadType":"binary","metadata":{}}}`,
		`{"append":{"range":{"from":01,"to":3},"payloadType":"binary","metadata":{}}}`,
		`{"append":{"range":{"from":1,"to":9223372036854775807},"payloadType":"json","metadata":{}}}`,
		`{"append":{"range":{"from":1,"to":9223372036854775808},"payloadType":"json","metadata":{}}}`,
		`{"append":{"range":{"from":1,"to":2},"payloadType":"text","metadata":{}}}`,
		`{"append":{"range":{"from":1,"to":2},"payloadType":"json","metadata":{"data":1}}}`,
		`{"append":{"range":{"from":1,"to":2},"payloadType":"json"}}`,
		`{"append":{"range":{"from":1,"to":2},"payloadType":"json","metadata":{}},"x":1}`,
		`{"append":{"range":{"from":1e0,"to":2},"payloadType":"json","metadata":{}}}`)
	for _, b := range in {
		h, err := journal.DecodeActionHeader([]byte(b))
		want, wantErr := journal.DecodeActionHeaderGeneric([]byte(b))
		if !reflect.DeepEqual(h, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("DecodeActionHeader(%s) = %#v, %v; the generic decoder gives %#v, %v", b, h, err, want, wantErr)
		}
	}
}
