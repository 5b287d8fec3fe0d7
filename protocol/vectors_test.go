package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/kjournal/kjournal/protocol"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json from vectors_gen_test.go")

const vectorsPath = "testdata/vectors.json"

// vectorFile is testdata/vectors.json.
type vectorFile struct {
	Comment         string          `json:"comment"`
	Conventions     []string        `json:"conventions"`
	Vectors         []vector        `json:"vectors"`
	InvalidRequests []invalidVector `json:"invalid_requests"`
	InvalidFrames   []frameVector   `json:"invalid_frames"`
}

type vector struct {
	Name      string `json:"name"`
	Direction string `json:"direction"`
	Op        string `json:"op"`
	Canonical bool   `json:"canonical"`
	Note      string `json:"note,omitempty"`
	// Hex is the whole frame: 4-byte length prefix and body.
	Hex     string          `json:"hex"`
	Decoded json.RawMessage `json:"decoded"`
	// CanonicalHex is, for a non-canonical request, the frame the Go encoder writes for the same request.
	CanonicalHex string `json:"canonical_hex,omitempty"`
}

type invalidVector struct {
	Name     string `json:"name"`
	Note     string `json:"note,omitempty"`
	Hex      string `json:"hex"`
	Code     int    `json:"code"`
	CodeName string `json:"code_name"`
	ReplyID  uint64 `json:"reply_id"`
}

type frameVector struct {
	Name          string `json:"name"`
	Note          string `json:"note,omitempty"`
	Hex           string `json:"hex"`
	MaxFrameBytes int    `json:"max_frame_bytes"`
	Code          int    `json:"code,omitempty"`
	CodeName      string `json:"code_name,omitempty"`
	Closes        bool   `json:"closes"`
}

var conventions = []string{
	"hex is a whole frame: the 4-byte big-endian body length, then the msgpack body.",
	"decoded is the body's meaning in JSON: a msgpack map is an object (keys in wire order), an array an array, a str a string, nil null, a bool a bool.",
	"A msgpack bin is {\"$bin\": \"<base64>\"}; an integer beyond ±(2^53-1) is {\"$int\": \"<decimal>\"}; a float is {\"$float\": <number>}; every other integer is a JSON number.",
	"direction request: client to sidecar; reply: sidecar to client. op is the op of the request the frame belongs to (a reply is decoded knowing it).",
	"canonical true: the Go encoder writes exactly these bytes (PROTOCOL.md, Canonical encoding); every implementation must decode them to the meaning. canonical false: a valid but non-canonical encoding that must decode to the same meaning; canonical_hex is what the Go encoder writes for it.",
	"invalid_requests: bodies DecodeRequest must reject with code; reply_id is the id of the error frame (0: connection-level). The connection stays open.",
	"invalid_frames: byte streams the frame reader must reject given max_frame_bytes; closes: the sidecar closes the connection after them.",
}

// meaning renders a msgpack value as the JSON meaning, keys in wire order. It uses the msgpack
// library's generic decoding, not this package, so the vectors check the package.
func meaning(d *msgpack.Decoder, b *strings.Builder) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return err
		}
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			k, err := d.DecodeString()
			if err != nil {
				return err
			}
			kj, _ := json.Marshal(k)
			b.Write(kj)
			b.WriteByte(':')
			if err := meaning(d, b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := meaning(d, b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	v, err := d.DecodeInterface()
	if err != nil {
		return err
	}
	var out any
	switch v := v.(type) {
	case []byte:
		out = map[string]string{"$bin": base64.StdEncoding.EncodeToString(v)}
	case float32:
		out = map[string]float64{"$float": float64(v)}
	case float64:
		out = map[string]float64{"$float": v}
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		n := new(big.Int)
		n.SetString(fmt.Sprint(v), 10)
		if n.CmpAbs(big.NewInt(1<<53-1)) > 0 {
			out = map[string]string{"$int": n.String()}
		} else {
			out = json.Number(n.String())
		}
	default:
		out = v
	}
	j, err := json.Marshal(out)
	if err != nil {
		return err
	}
	b.Write(j)
	return nil
}

func meaningOf(body []byte) (string, error) {
	var b strings.Builder
	d := msgpack.NewDecoder(bytes.NewReader(body))
	if err := meaning(d, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// normalize parses a meaning so that two meanings compare equal when they mean the same values.
func normalize(t testing.TB, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("meaning %s: %v", raw, err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if f, ok := v["$float"]; ok && len(v) == 1 {
				x, _ := f.(json.Number).Float64()
				return math.Float64bits(x)
			}
			for k, e := range v {
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case json.Number:
			n, ok := new(big.Int).SetString(string(v), 10)
			if !ok {
				t.Fatalf("non-integer JSON number %s outside $float", v)
			}
			return n.String()
		}
		return v
	}
	return walk(v)
}

func frameHex(body []byte) string { return hex.EncodeToString(protocol.AppendFrame(nil, body)) }

func generateVectors(t *testing.T) *vectorFile {
	f := &vectorFile{
		Comment:     "kjournal sidecar protocol v1 test vectors, generated by `go test ./protocol -run TestVectors -update` from protocol/vectors_gen_test.go; see protocol/PROTOCOL.md.",
		Conventions: conventions,
	}
	for _, d := range vectorDefs {
		v := vector{Name: d.name, Direction: d.direction, Op: string(d.op), Note: d.note}
		var body []byte
		var err error
		switch m := d.msg.(type) {
		case nil:
			body = d.body
			req, err := protocol.DecodeRequest(body)
			if err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			canon, err := protocol.EncodeRequest(req)
			if err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			v.CanonicalHex = frameHex(canon)
		case protocol.Request:
			v.Canonical = true
			body, err = protocol.EncodeRequest(m)
		case protocol.Reply:
			v.Canonical = true
			body, err = protocol.EncodeReply(m)
		}
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		v.Hex = frameHex(body)
		mean, err := meaningOf(body)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		v.Decoded = json.RawMessage(mean)
		f.Vectors = append(f.Vectors, v)
	}
	for _, d := range invalidDefs {
		f.InvalidRequests = append(f.InvalidRequests, invalidVector{
			Name: d.name, Note: d.note, Hex: frameHex(d.body), Code: int(d.code), CodeName: d.code.String(), ReplyID: d.replyID,
		})
	}
	for _, d := range frameDefs {
		fv := frameVector{Name: d.name, Note: d.note, Hex: hex.EncodeToString(d.frame), MaxFrameBytes: d.maxFrameBytes, Closes: true}
		if d.code != 0 {
			fv.Code, fv.CodeName = int(d.code), d.code.String()
		}
		f.InvalidFrames = append(f.InvalidFrames, fv)
	}
	return f
}

func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// readHexFrame checks a vector's prefix and returns its body.
func readHexFrame(t *testing.T, h string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	body, err := protocol.ReadFrame(bufio.NewReader(bytes.NewReader(raw)), protocol.DefaultMaxFrameBytes)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if len(body)+protocol.FrameHeaderSize != len(raw) {
		t.Fatalf("frame has %d bytes after the body", len(raw)-len(body)-protocol.FrameHeaderSize)
	}
	return body
}

func TestVectors(t *testing.T) {
	if *update {
		f := generateVectors(t)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := loadVectors(t)

	t.Run("valid", func(t *testing.T) {
		for _, v := range f.Vectors {
			t.Run(v.Name, func(t *testing.T) {
				body := readHexFrame(t, v.Hex)
				got, err := meaningOf(body)
				if err != nil {
					t.Fatalf("generic decode: %v", err)
				}
				if !reflect.DeepEqual(normalize(t, []byte(got)), normalize(t, v.Decoded)) {
					t.Fatalf("decoded\n got %s\nwant %s", got, v.Decoded)
				}
				var reencoded []byte
				switch v.Direction {
				case "request":
					req, err := protocol.DecodeRequest(body)
					if err != nil {
						t.Fatalf("DecodeRequest: %v", err)
					}
					if string(req.Op()) != v.Op {
						t.Fatalf("op %q, want %q", req.Op(), v.Op)
					}
					if reencoded, err = protocol.EncodeRequest(req); err != nil {
						t.Fatal(err)
					}
				case "reply":
					rep, err := protocol.DecodeReply(body, protocol.Op(v.Op))
					if err != nil {
						t.Fatalf("DecodeReply: %v", err)
					}
					if reencoded, err = protocol.EncodeReply(rep); err != nil {
						t.Fatal(err)
					}
				default:
					t.Fatalf("direction %q", v.Direction)
				}
				want := v.Hex
				if !v.Canonical {
					want = v.CanonicalHex
					if want == "" {
						t.Fatal("non-canonical vector without canonical_hex")
					}
				}
				if got := frameHex(reencoded); got != want {
					t.Fatalf("re-encoded\n got %s\nwant %s", got, want)
				}
				// The canonical form of a non-canonical vector means the same, bar the fields the
				// canonical form spells out (payload_type) or drops (nil optionals, unknown keys).
				if !v.Canonical {
					if _, err := protocol.DecodeRequest(readHexFrame(t, v.CanonicalHex)); err != nil {
						t.Fatalf("canonical_hex does not decode: %v", err)
					}
				}
			})
		}
	})

	t.Run("invalid_requests", func(t *testing.T) {
		for _, v := range f.InvalidRequests {
			t.Run(v.Name, func(t *testing.T) {
				body := readHexFrame(t, v.Hex)
				req, err := protocol.DecodeRequest(body)
				if err == nil {
					t.Fatalf("decoded %#v, want error %s", req, v.CodeName)
				}
				var pe *protocol.Error
				if !errors.As(err, &pe) {
					t.Fatalf("error %T %v is not *protocol.Error", err, err)
				}
				if int(pe.Code) != v.Code || pe.ID != v.ReplyID {
					t.Fatalf("got %v with id %d, want %s (%d) with id %d", err, pe.ID, v.CodeName, v.Code, v.ReplyID)
				}
				if pe.Code.String() != v.CodeName {
					t.Fatalf("code name %s, want %s", pe.Code, v.CodeName)
				}
			})
		}
	})

	t.Run("invalid_frames", func(t *testing.T) {
		for _, v := range f.InvalidFrames {
			t.Run(v.Name, func(t *testing.T) {
				raw, _ := hex.DecodeString(v.Hex)
				_, err := protocol.ReadFrame(bytes.NewReader(raw), v.MaxFrameBytes)
				if v.Code == 0 {
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("got %v, want unexpected EOF", err)
					}
					return
				}
				var pe *protocol.Error
				if !errors.As(err, &pe) || int(pe.Code) != v.Code || pe.ID != 0 {
					t.Fatalf("got %v, want %s with id 0", err, v.CodeName)
				}
			})
		}
	})

	t.Run("coverage", func(t *testing.T) {
		// Every op in both directions, every reply kind, every payload kind, both seq_nr bounds.
		markers := []string{`"payload_type":"binary"`, `"payload_type":"text"`, `"payload_type":"json"`,
			`"seq_nr":1,`, `"seq_nr":{"$int":"9223372036854775807"}`, `"end":true`, `"error":`, `"$float"`,
			`"highest_seq_nr":null`, `"partition":null`, `"origin":null`}
		seen := map[string]bool{}
		for _, v := range f.Vectors {
			seen[v.Direction+":"+v.Op] = true
			var compact bytes.Buffer
			if err := json.Compact(&compact, v.Decoded); err != nil {
				t.Fatal(err)
			}
			for _, s := range markers {
				if strings.Contains(compact.String(), s) {
					seen[s] = true
				}
			}
		}
		for _, op := range []protocol.Op{protocol.OpHello, protocol.OpAppend, protocol.OpRead, protocol.OpCredit,
			protocol.OpCancel, protocol.OpPointer, protocol.OpDelete, protocol.OpPurge, protocol.OpPing} {
			if !seen["request:"+string(op)] {
				t.Errorf("no request vector for %s", op)
			}
			if op != protocol.OpCredit && op != protocol.OpCancel && !seen["reply:"+string(op)] {
				t.Errorf("no reply vector for %s", op)
			}
		}
		for _, s := range markers {
			if !seen[s] {
				t.Errorf("no vector contains %s", s)
			}
		}
	})
}

// TestVectors_upToDate fails when vectors_gen_test.go changed without regenerating the file.
func TestVectors_upToDate(t *testing.T) {
	want := generateVectors(t)
	got := loadVectors(t)
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if !bytes.Equal(wj, gj) {
		t.Fatal("testdata/vectors.json is stale: run go test ./protocol -run TestVectors -update and review the diff")
	}
}
