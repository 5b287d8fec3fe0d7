package protocol

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestEnc_MatchesLibrary checks the hand-written writer against the msgpack library's Encoder at
// every boundary between two encodings: the canonical form is the library's smallest one.
func TestEnc_MatchesLibrary(t *testing.T) {
	ints := []int64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	lens := []int{0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536}
	type step struct {
		name string
		ours func(*enc)
		lib  func(*msgpack.Encoder) error
	}
	var steps []step
	for _, v := range ints {
		steps = append(steps, step{"int", func(e *enc) { e.int(v) }, func(m *msgpack.Encoder) error { return m.EncodeInt(v) }})
		if v >= 0 {
			steps = append(steps, step{"uint", func(e *enc) { e.uint(uint64(v)) }, func(m *msgpack.Encoder) error { return m.EncodeUint(uint64(v)) }})
		}
	}
	steps = append(steps, step{"uint max", func(e *enc) { e.uint(math.MaxUint64) }, func(m *msgpack.Encoder) error { return m.EncodeUint(math.MaxUint64) }})
	for _, n := range lens {
		s := strings.Repeat("x", n)
		steps = append(steps,
			step{"str", func(e *enc) { e.str(s) }, func(m *msgpack.Encoder) error { return m.EncodeString(s) }},
			step{"bin", func(e *enc) { e.bin([]byte(s)) }, func(m *msgpack.Encoder) error { return m.EncodeBytes([]byte(s)) }},
			step{"map", func(e *enc) { e.mapLen(n) }, func(m *msgpack.Encoder) error { return m.EncodeMapLen(n) }},
			step{"array", func(e *enc) { e.arrayLen(n) }, func(m *msgpack.Encoder) error { return m.EncodeArrayLen(n) }})
	}
	for _, f := range []float64{0, 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		steps = append(steps, step{"float", func(e *enc) { e.float(f) }, func(m *msgpack.Encoder) error { return m.EncodeFloat64(f) }})
	}
	steps = append(steps,
		step{"true", func(e *enc) { e.boolean(true) }, func(m *msgpack.Encoder) error { return m.EncodeBool(true) }},
		step{"false", func(e *enc) { e.boolean(false) }, func(m *msgpack.Encoder) error { return m.EncodeBool(false) }},
		step{"nil", func(e *enc) { e.nil() }, func(m *msgpack.Encoder) error { return m.EncodeNil() }})
	for _, s := range steps {
		var e enc
		s.ours(&e)
		var want bytes.Buffer
		if err := s.lib(msgpack.NewEncoder(&want)); err != nil {
			t.Fatal(err)
		}
		if e.err != nil || !bytes.Equal(e.buf, want.Bytes()) {
			t.Errorf("%s: got % x (err %v), the library writes % x", s.name, head(e.buf), e.err, head(want.Bytes()))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }
