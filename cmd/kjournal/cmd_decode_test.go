package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const compatDir = "../../testdata/compat/kafka-journal"

type decodeManifestEntry struct {
	File              string          `json:"file"`
	Kind              string          `json:"kind"`
	RecordPayloadType string          `json:"record_payload_type"`
	Expected          json.RawMessage `json:"expected"`
}

func parseJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("parse %q: %v", b, err)
	}
	return v
}

func runDecodeTest(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runDecode(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDecode_Manifest decodes every golden file and compares the output with
// its MANIFEST "expected" value.
func TestDecode_Manifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(compatDir, "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []decodeManifestEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.File, func(t *testing.T) {
			path := filepath.Join(compatDir, e.File)
			var args [][]string
			switch e.Kind {
			case "action-header":
				args = [][]string{{"--header", path}}
			case "record-value-json", "record-value-binary":
				// With the type given, and sniffed.
				args = [][]string{{"--value", path, "--payload-type", e.RecordPayloadType}, {"--value", path}}
			case "events-binary":
				args = [][]string{{"--value", path, "--payload-type", "binary"}, {"--value", path}}
			}
			for _, a := range args {
				code, stdout, stderr := runDecodeTest(t, "", a...)
				if code != 0 {
					t.Fatalf("%v: exit %d: %s", a, code, stderr)
				}
				if got, want := parseJSON(t, []byte(stdout)), parseJSON(t, e.Expected); !reflect.DeepEqual(got, want) {
					t.Errorf("%v:\n got %s\nwant %s", a, stdout, e.Expected)
				}
			}
		})
	}
}

func TestDecode_HeaderAndValue(t *testing.T) {
	dir := t.TempDir()
	header := filepath.Join(dir, "header.json")
	if err := os.WriteFile(header, []byte(`{"append":{"range":{"from":1,"to":2},"origin":"o","payloadType":"binary","metadata":{"data":{"k":1}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	value, err := os.ReadFile(filepath.Join(compatDir, "Payload-binary-many.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// The header's payloadType wins over --payload-type; the value comes from stdin.
	code, stdout, stderr := runDecodeTest(t, string(value), "--header", header, "--value", "-", "--payload-type", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `{"action":"append","range":{"from":1,"to":2},"origin":"o","version":null,"payload_type":"binary",
		"header_metadata":{"k":1},"legacy":false,
		"events":[{"seq_nr":1,"tags":["0","1"],"payload_type":"binary","payload":{"base64":"MQ=="}},
		          {"seq_nr":2,"tags":["0","1","2"],"payload_type":"binary","payload":{"base64":"Mg=="}}],
		"metadata":{"expire_after_ms":86400000,"data":{"key":"value"}}}`
	if !reflect.DeepEqual(parseJSON(t, []byte(stdout)), parseJSON(t, []byte(want))) {
		t.Errorf("got %s", stdout)
	}
	// Keys come out in the MANIFEST's order.
	if i, j := strings.Index(stdout, `"action"`), strings.Index(stdout, `"events"`); i < 0 || j < i {
		t.Errorf("key order: %s", stdout)
	}
}

func TestDecode_Help(t *testing.T) {
	code, _, stderr := runDecodeTest(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: kjournal decode", "-header", "-value", "-payload-type", "neutral schema"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help lacks %q:\n%s", want, stderr)
		}
	}
}

func TestDecode_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badHeader := write("bad-header", `{"append":{"range":{"from":2,"to":1},"payloadType":"json"}}`)
	unknown := write("unknown", `{"new":{}}`)
	badValue := write("bad-value", "\x01\x00\x00\x00\x05garbage")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"nothing to do", "", nil, 2},
		{"argument", "", []string{"--value", badValue, "extra"}, 2},
		{"bad payload type", "", []string{"--value", badValue, "--payload-type", "text"}, 2},
		{"both stdin", "", []string{"--header", "-", "--value", "-"}, 2},
		{"unknown flag", "", []string{"--nope"}, 2},
		{"missing file", "", []string{"--value", filepath.Join(dir, "missing")}, 1},
		{"malformed header", "", []string{"--header", badHeader}, 1},
		{"unknown action", "", []string{"--header", unknown}, 1},
		{"malformed binary", "", []string{"--value", badValue}, 1},
		{"malformed json", "{", []string{"--value", "-"}, 1},
		{"empty value", "", []string{"--value", "-"}, 1},
		{"json as binary", `{"events":[]}`, []string{"--value", "-", "--payload-type", "binary"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDecodeTest(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %s)", code, tc.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if tc.code == 1 && (strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "kjournal decode: ")) {
				t.Errorf("want one error line, got %q", stderr)
			}
		})
	}
}

func TestDecode_Dispatch(t *testing.T) {
	if _, ok := commands["decode"]; !ok {
		t.Fatal("decode is not registered")
	}
	// Through the dispatcher, as the binary runs it.
	if code := dispatch(context.Background(), []string{"decode", "--value", filepath.Join(compatDir, "v1-events-text.bin")}); code != 0 {
		t.Errorf("exit %d", code)
	}
}
