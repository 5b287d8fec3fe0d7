package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/kjournal/kjournal/journal"
)

func init() {
	commands["decode"] = command{
		summary: "decode a Kafka action header and/or record value into neutral JSON",
		run: func(_ context.Context, args []string) int {
			return runDecode(args, os.Stdin, os.Stdout, os.Stderr)
		},
	}
}

const decodeUsage = `usage: kjournal decode [--header FILE] [--value FILE] [--payload-type json|binary]

Decodes what kafka-journal and kjournal write to Kafka: the value of the record header
"journal.action" (--header) and the record value of an Append (--value), and prints it as JSON in
the neutral schema of testdata/compat/kafka-journal/MANIFEST.json:

  header: {"action", "range": {"from", "to"} | "to" | "id", "origin", "version",
           "payload_type", "header_metadata", "legacy"}
  value:  {"events": [{"seq_nr", "tags", "payload_type", "payload"}],
           "metadata": {"expire_after_ms", "data"}}

Text payloads print as strings, JSON payloads as JSON, binary payloads as {"base64": ...}. With
both flags the fields are merged into one object. FILE "-" is standard input.

The value's format is taken from the header's payloadType when a header is given, else from
--payload-type, else guessed (a value starting with '{' is JSON, anything else binary). A header of
an unknown action kind (which readers ignore) and undecodable input exit with status 1.

flags:
`

func runDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	headerFile := fs.String("header", "", "file holding the journal.action header value (JSON)")
	valueFile := fs.String("value", "", "file holding the record value")
	payloadType := fs.String("payload-type", "", "format of the value when no header is given: json or binary")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), decodeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "kjournal decode: "+msg)
		return code
	}
	switch {
	case fs.NArg() > 0:
		return fail(2, "unexpected argument %q (see kjournal decode --help)", fs.Arg(0))
	case *headerFile == "" && *valueFile == "":
		return fail(2, "give --header, --value or both (see kjournal decode --help)")
	case *headerFile == "-" && *valueFile == "-":
		return fail(2, "only one of --header and --value can read standard input")
	}
	pt := journal.PayloadType(*payloadType)
	if pt != "" && pt != journal.PayloadJSON && pt != journal.PayloadBinary {
		return fail(2, "--payload-type: %q is not json or binary", *payloadType)
	}

	var out ordered
	if *headerFile != "" {
		b, err := readInput(*headerFile, stdin)
		if err != nil {
			return fail(1, "header: %v", err)
		}
		h, err := journal.DecodeActionHeader(b)
		if err != nil {
			return fail(1, "header: %v", err)
		}
		if h == nil {
			return fail(1, "header: no known action kind (readers ignore such a record)")
		}
		if a, ok := h.(*journal.AppendHeader); ok {
			pt = a.PayloadType
		}
		out = neutralHeader(h)
	}
	if *valueFile != "" {
		b, err := readInput(*valueFile, stdin)
		if err != nil {
			return fail(1, "value: %v", err)
		}
		if pt == "" {
			pt = journal.SniffPayloadType(b)
		}
		events, md, err := journal.DecodeEvents(b, pt)
		if err != nil {
			return fail(1, "value (%s): %v", pt, err)
		}
		out = append(out, neutralEvents(events, md)...)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fail(1, "%v", err)
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// ordered is a JSON object that keeps its keys in order, so the output
// reads like the MANIFEST.
type ordered []field

type field struct {
	key   string
	value any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// optional is a string field that is null when empty.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonOrNull is a JSON value field that is null when absent.
func jsonOrNull(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	return raw
}

func neutralHeader(h journal.ActionHeader) ordered {
	out := ordered{{"action", string(h.Kind())}}
	switch h := h.(type) {
	case *journal.AppendHeader:
		out = append(out, field{"range", ordered{{"from", int64(h.Range.From)}, {"to", int64(h.Range.To)}}})
	case *journal.DeleteHeader:
		out = append(out, field{"to", int64(h.To)})
	case *journal.MarkHeader:
		out = append(out, field{"id", h.ID})
	}
	out = append(out, field{"origin", optional(h.HeaderOrigin())}, field{"version", optional(h.HeaderVersion())})
	if h, ok := h.(*journal.AppendHeader); ok {
		out = append(out,
			field{"payload_type", string(h.PayloadType)},
			field{"header_metadata", jsonOrNull(h.Metadata.Data)},
			field{"legacy", h.Legacy})
	}
	return out
}

func neutralEvents(events []journal.Event, md journal.PayloadMetadata) ordered {
	list := make([]ordered, 0, len(events))
	for _, e := range events {
		var pt, payload any
		switch e.Payload.Type {
		case journal.PayloadBinary:
			pt, payload = "binary", ordered{{"base64", base64.StdEncoding.EncodeToString(e.Payload.Data)}}
		case journal.PayloadText:
			pt, payload = "text", string(e.Payload.Data)
		case journal.PayloadJSON:
			pt, payload = "json", json.RawMessage(e.Payload.Data)
		}
		tags := e.Tags
		if tags == nil {
			tags = []string{}
		}
		list = append(list, ordered{{"seq_nr", int64(e.SeqNr)}, {"tags", tags}, {"payload_type", pt}, {"payload", payload}})
	}
	var expire any
	if md.ExpireAfter != 0 {
		// Milliseconds, with a fraction only for sub-millisecond durations.
		expire = json.Number(strconv.FormatFloat(float64(md.ExpireAfter)/1e6, 'f', -1, 64))
		if md.ExpireAfter%1e6 == 0 {
			expire = md.ExpireAfter.Milliseconds()
		}
	}
	return ordered{
		{"events", list},
		{"metadata", ordered{{"expire_after_ms", expire}, {"data", jsonOrNull(md.Data)}}},
	}
}
