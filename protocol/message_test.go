package protocol_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/kjournal/kjournal/protocol"
)

// Requests in the form DecodeRequest returns them (tags sorted, empty maps nil, JSON numbers int64,
// uint64 or float64), so that they round-trip exactly.
var roundTripRequests = []protocol.Request{
	&protocol.HelloRequest{ID: 1, Versions: []uint32{1}, Client: "kjournal-node/0.1.0"},
	&protocol.HelloRequest{ID: 1, Versions: []uint32{3, 2, 1}},
	&protocol.AppendRequest{ID: 2, Journal: "order-42", Topic: "journal", Events: []protocol.Event{
		{SeqNr: 1, Tags: []string{"a", "b"}, PayloadType: protocol.PayloadJSON, Payload: map[string]any{
			"n": int64(-5), "u": uint64(math.MaxUint64), "f": 0.1, "s": "ü", "l": []any{nil, false, map[string]any{}}}},
		{SeqNr: 2, PayloadType: protocol.PayloadBinary, Payload: bytes.Repeat([]byte{7}, 300)},
		{SeqNr: 3, PayloadType: protocol.PayloadText, Payload: strings.Repeat("x", 70000)},
		{SeqNr: 4, PayloadType: protocol.PayloadJSON, Payload: nil},
		{SeqNr: 5},
		{SeqNr: math.MaxInt64, PayloadType: protocol.PayloadJSON, Payload: "str"},
	}, ExpireAfterMs: protocol.MaxSafeInt, Metadata: []any{int64(1)}, PayloadMetadata: "pm",
		Headers: map[string]string{"x": "", "": "y"}, TimeoutMs: protocol.MaxTimeoutMs},
	&protocol.AppendRequest{ID: protocol.MaxID, Journal: "j", Events: []protocol.Event{{SeqNr: 1}}},
	&protocol.ReadRequest{ID: 3, Journal: "j", Credit: 0},
	&protocol.ReadRequest{ID: 3, Journal: "j", Topic: "t", From: 2, To: 3, Max: math.MaxInt64, Credit: protocol.MaxCredit, TimeoutMs: 1},
	&protocol.CreditRequest{ID: 3, N: 1},
	&protocol.CreditRequest{ID: 3, N: protocol.MaxCredit},
	&protocol.CancelRequest{ID: 3},
	&protocol.PointerRequest{ID: 4, Journal: "j"},
	&protocol.PointerRequest{ID: 4, Journal: "j", Topic: "t", TimeoutMs: 10},
	&protocol.DeleteRequest{ID: 5, Journal: "j", To: 1},
	&protocol.DeleteRequest{ID: 5, Journal: "j", Topic: "t", To: math.MaxInt64, TimeoutMs: 10},
	&protocol.PurgeRequest{ID: 6, Journal: "j"},
	&protocol.PurgeRequest{ID: 6, Journal: "j", Topic: "a.b_c-1", TimeoutMs: 10},
	&protocol.PingRequest{ID: 7},
	&protocol.PingRequest{ID: 7, TimeoutMs: 10},
	&protocol.AppendRequest{ID: 8, Journal: "j", Events: []protocol.Event{{SeqNr: 1}}, Conditional: true},
	&protocol.AppendRequest{ID: 8, Journal: "j", Events: []protocol.Event{{SeqNr: 6}}, ExpectedSeqNr: 5, Conditional: true},
	&protocol.SaveSnapshotRequest{ID: 9, Journal: "j", SeqNr: 1},
	&protocol.SaveSnapshotRequest{ID: 9, Journal: "j", Topic: "t", SeqNr: math.MaxInt64, PayloadType: protocol.PayloadJSON, Payload: nil,
		Metadata: "m", Timestamp: math.MinInt64, HasTimestamp: true, TimeoutMs: 10},
	&protocol.SaveSnapshotRequest{ID: 9, Journal: "j", SeqNr: 2, HasTimestamp: true},
	&protocol.LoadSnapshotRequest{ID: 10, Journal: "j", SnapshotCriteria: protocol.NewSnapshotCriteria()},
	&protocol.LoadSnapshotRequest{ID: 10, Journal: "j", SnapshotCriteria: protocol.SnapshotCriteria{}, TimeoutMs: 3},
	&protocol.DeleteSnapshotsRequest{ID: 11, Journal: "j", SeqNr: 3, HasSeqNr: true, SnapshotCriteria: protocol.NewSnapshotCriteria()},
	&protocol.DeleteSnapshotsRequest{ID: 11, Journal: "j", SnapshotCriteria: protocol.SnapshotCriteria{MaxSeqNr: 4, MaxTimestamp: 5, MinSeqNr: 1, MinTimestamp: 2}},
}

var roundTripReplies = []struct {
	op  protocol.Op
	rep protocol.Reply
}{
	{protocol.OpHello, &protocol.HelloReply{ID: 1, Version: 1, Server: "kjournal/dev", MaxFrameBytes: 1 << 20, MaxInFlight: 1, DefaultTopic: "journal", DefaultTimeoutMs: 30000}},
	{protocol.OpAppend, &protocol.AppendReply{ID: 2, Partition: math.MaxInt32, Offset: math.MaxInt64}},
	{protocol.OpAppend, &protocol.AppendReply{ID: 2}},
	{protocol.OpRead, &protocol.ReadEvents{ID: 3, Events: []protocol.EventRecord{
		record1,
		{SeqNr: math.MaxInt64, PayloadType: protocol.PayloadBinary, Payload: []byte{}, Timestamp: -1},
		{SeqNr: 2},
	}}},
	{protocol.OpRead, &protocol.ReadEvents{ID: 3, Events: []protocol.EventRecord{}}},
	{protocol.OpRead, &protocol.ReadEnd{ID: 3, End: true, HighestSeqNr: math.MaxInt64}},
	{protocol.OpRead, &protocol.ReadEnd{ID: 3, End: true}},
	{protocol.OpPointer, &protocol.PointerReply{ID: 4, SeqNr: 1}},
	{protocol.OpPointer, &protocol.PointerReply{ID: 4}},
	{protocol.OpDelete, &protocol.DeleteReply{ID: 5, Deleted: true}},
	{protocol.OpDelete, &protocol.DeleteReply{ID: 5, Deleted: true, Partition: 1, Offset: 2}},
	{protocol.OpDelete, &protocol.DeleteReply{ID: 5}},
	{protocol.OpPurge, &protocol.PurgeReply{ID: 6, Partition: 1, Offset: 2}},
	{protocol.OpPing, &protocol.PingReply{ID: 7}},
	{protocol.OpSaveSnapshot, &protocol.SaveSnapshotReply{ID: 8, Timestamp: -5}},
	{protocol.OpLoadSnapshot, &protocol.LoadSnapshotReply{ID: 8}},
	{protocol.OpLoadSnapshot, &protocol.LoadSnapshotReply{ID: 8, Snapshot: &protocol.SnapshotRecord{SeqNr: 1, Timestamp: 2}}},
	{protocol.OpLoadSnapshot, &protocol.LoadSnapshotReply{ID: 8, Snapshot: &protocol.SnapshotRecord{SeqNr: math.MaxInt64, Timestamp: 2,
		PayloadType: protocol.PayloadBinary, Payload: []byte{1}, Metadata: []any{true}, Origin: "o", Version: "v"}}},
	{protocol.OpDeleteSnapshots, &protocol.DeleteSnapshotsReply{ID: 8, Deleted: 3}},
	{protocol.OpAppend, &protocol.Error{ID: 9, Code: protocol.CodeWrongExpectedSeqNr, Message: "m", HighestSeqNr: math.MaxInt64}},
	{protocol.OpRead, protocol.NewError(3, protocol.CodeCancelled, "cancelled")},
	{protocol.OpHello, protocol.NewError(0, protocol.CodeFrameTooLarge, "")},
	{protocol.OpAppend, &protocol.Error{ID: 9, Code: 999, Message: "a code from a newer sidecar", Retryable: true}},
}

func TestRequest_roundTrip(t *testing.T) {
	for _, want := range roundTripRequests {
		t.Run(fmt.Sprintf("%s-%d", want.Op(), want.RequestID()), func(t *testing.T) {
			body, err := protocol.EncodeRequest(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := protocol.DecodeRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, want)
			}
			// msgpack.Marshal goes through EncodeMsgpack: the same canonical bytes.
			viaLib, err := msgpack.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaLib, body) {
				t.Fatalf("msgpack.Marshal differs from EncodeRequest")
			}
			checkTags(t, want, body)
		})
	}
}

func TestReply_roundTrip(t *testing.T) {
	for _, c := range roundTripReplies {
		t.Run(fmt.Sprintf("%s-%T", c.op, c.rep), func(t *testing.T) {
			body, err := protocol.EncodeReply(c.rep)
			if err != nil {
				t.Fatal(err)
			}
			got, err := protocol.DecodeReply(body, c.op)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.rep) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, c.rep)
			}
			viaLib, err := msgpack.Marshal(c.rep)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaLib, body) {
				t.Fatalf("msgpack.Marshal differs from EncodeReply")
			}
			if _, isErr := c.rep.(*protocol.Error); !isErr {
				checkTags(t, c.rep, body)
			}
		})
	}
}

// checkTags keeps the msgpack struct tags honest: the keys the canonical encoder writes for a message
// are the tag names of its struct (plus op), and the tags of omitempty fields are the only optional ones.
func checkTags(t *testing.T, msg any, body []byte) {
	t.Helper()
	var m map[string]any
	if err := msgpack.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(msg).Elem()
	tags := map[string]bool{}
	fields := reflect.VisibleFields(typ)
	for _, sf := range fields {
		tag := sf.Tag.Get("msgpack")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		tags[name] = true
		if _, ok := m[name]; !ok && opts != "omitempty" {
			t.Errorf("%s: field %s without omitempty is not encoded", typ.Name(), name)
		}
	}
	for k := range m {
		if k != "op" && !tags[k] {
			t.Errorf("%s: encoded key %s has no struct tag", typ.Name(), k)
		}
	}
}

func TestEncode_canonicalOrder(t *testing.T) {
	// Tags and header and JSON object keys are sorted, so equal values encode equally.
	a := &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, Tags: []string{"b", "a", "b"},
		PayloadType: protocol.PayloadJSON, Payload: map[string]any{"z": 1, "a": int8(2), "m": uint16(3)}}},
		Headers: map[string]string{"z": "1", "a": "2"}}
	b := &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, Tags: []string{"a", "b"},
		PayloadType: protocol.PayloadJSON, Payload: map[string]any{"m": int64(3), "a": int64(2), "z": int64(1)}}},
		Headers: map[string]string{"a": "2", "z": "1"}}
	ab, err := protocol.EncodeRequest(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := protocol.EncodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ab, bb) {
		t.Fatalf("equal values, different bytes:\n%x\n%x", ab, bb)
	}
}

func TestEncode_invalid(t *testing.T) {
	for name, msg := range map[string]protocol.Request{
		"binary not bytes":    &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadBinary, Payload: "x"}}},
		"text not string":     &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadText, Payload: []byte("x")}}},
		"payload no type":     &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, Payload: "x"}}},
		"unknown type":        &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: "xml", Payload: "x"}}},
		"NaN":                 &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadJSON, Payload: math.NaN()}}},
		"not JSON":            &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadJSON, Payload: struct{}{}}}},
		"metadata not JSON":   &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1}}, Metadata: make(chan int)},
		"JSON nested too far": &protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadJSON, Payload: deep(protocol.MaxJSONDepth + 1)}}},
	} {
		if _, err := protocol.EncodeRequest(msg); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	if _, err := protocol.EncodeRequest(&protocol.AppendRequest{ID: 1, Journal: "j", Events: []protocol.Event{
		{SeqNr: 1, PayloadType: protocol.PayloadJSON, Payload: deep(protocol.MaxJSONDepth)}}}); err != nil {
		t.Errorf("MaxJSONDepth levels: %v", err)
	}
}

func deep(n int) any {
	var v any = int64(0)
	for range n {
		v = []any{v}
	}
	return v
}

func TestDecodeRequest_depthLimit(t *testing.T) {
	for _, depth := range []int{protocol.MaxJSONDepth, protocol.MaxJSONDepth + 1, 100000} {
		_, err := protocol.DecodeRequest(nested(depth))
		if ok := depth <= protocol.MaxJSONDepth; ok != (err == nil) {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
}

func TestDecodeRequest_valueLimit(t *testing.T) {
	body := func(n int) []byte {
		// id, op, journal, events: 1 map + 4 keys + 4 scalars... made up to exactly n values with a
		// tags array of nils in an ignored key.
		return req(1, "append", 3, func(b *w) {
			b.kv("journal").s("j").kv("events").a(1).m(1).kv("seq_nr").u(1)
			b.kv("x").a(n - 14)
			for range n - 14 {
				b.nil()
			}
		})
	}
	if _, err := protocol.DecodeRequest(body(protocol.MaxRequestValues)); err != nil {
		t.Fatalf("MaxRequestValues values: %v", err)
	}
	_, err := protocol.DecodeRequest(body(protocol.MaxRequestValues + 1))
	if !errors.Is(err, protocol.ErrBadFrame) {
		t.Fatalf("MaxRequestValues+1 values: %v", err)
	}
}

// TestDecodeRequest_hugeClaims checks that length claims are checked before anything is allocated.
func TestDecodeRequest_hugeClaims(t *testing.T) {
	f := loadVectors(t)
	for _, v := range f.InvalidRequests {
		if !strings.HasPrefix(v.Name, "huge-") {
			continue
		}
		body := readHexFrame(t, v.Hex)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 100 {
			if _, err := protocol.DecodeRequest(body); err == nil {
				t.Fatalf("%s decoded", v.Name)
			}
		}
		runtime.ReadMemStats(&after)
		if perCall := (after.TotalAlloc - before.TotalAlloc) / 100; perCall > 16<<10 {
			t.Errorf("%s: %d bytes allocated per call", v.Name, perCall)
		}
	}
}

func TestDecodeRequest_unknownKeysIgnored(t *testing.T) {
	body := req(1, "ping", 2, func(b *w) {
		b.kv("later").m(1).kv("x").raw(0xd4, 0x01, 0x00) // even an ext value, in a key we do not know
		b.kv("also").a(2).bin([]byte{1}).f32(1)
	})
	got, err := protocol.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &protocol.PingRequest{ID: 1}) {
		t.Fatalf("got %#v", got)
	}
}

func TestRequest_Timeout(t *testing.T) {
	req := &protocol.ReadRequest{TimeoutMs: 1500}
	if req.Timeout() != 1500*time.Millisecond {
		t.Fatal(req.Timeout())
	}
	if (&protocol.ReadRequest{}).Timeout() != 0 {
		t.Fatal("absent timeout_ms is not 0")
	}
}

func TestError_Is(t *testing.T) {
	err := fmt.Errorf("append: %w", protocol.NewError(7, protocol.CodeTimeout, "slow"))
	if !errors.Is(err, protocol.ErrTimeout) {
		t.Fatal("not ErrTimeout")
	}
	if errors.Is(err, protocol.ErrCancelled) {
		t.Fatal("is ErrCancelled")
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.ID != 7 || !pe.Retryable || pe.Code.String() != "TIMEOUT" {
		t.Fatalf("%#v", pe)
	}
	if got := protocol.Code(999).String(); got != "CODE_999" {
		t.Fatal(got)
	}
}

func TestAsError(t *testing.T) {
	for _, c := range []struct {
		err  error
		code protocol.Code
	}{
		{fmt.Errorf("x: %w", protocol.ErrKafkaUnavailable), protocol.CodeKafkaUnavailable},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), protocol.CodeTimeout},
		{errors.New("boom"), protocol.CodeInternal},
	} {
		got := protocol.AsError(5, c.err)
		if got.Code != c.code || got.ID != 5 {
			t.Errorf("%v: got %#v", c.err, got)
		}
	}
	if protocol.ErrKafkaUnavailable.ID != 0 {
		t.Fatal("AsError modified the sentinel")
	}
}

func TestJSONFromRaw(t *testing.T) {
	got, err := protocol.JSONFromRaw([]byte(`{"i":-9223372036854775808,"u":18446744073709551615,"big":18446744073709551616,"f":1.0,"e":1e3,"s":"x","n":null,"a":[true]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": int64(math.MinInt64), "u": uint64(math.MaxUint64), "big": 18446744073709551616.0,
		"f": 1.0, "e": 1000.0, "s": "x", "n": nil, "a": []any{true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, bad := range []string{`{`, `1 2`, `1e999`, strings.Repeat("[", protocol.MaxJSONDepth+1) + strings.Repeat("]", protocol.MaxJSONDepth+1)} {
		if _, err := protocol.JSONFromRaw([]byte(bad)); err == nil {
			t.Errorf("%.20s: no error", bad)
		}
	}
}

func TestDecodeReply_wrongOp(t *testing.T) {
	body, _ := protocol.EncodeReply(&protocol.PingReply{ID: 1})
	if _, err := protocol.DecodeReply(body, protocol.OpAppend); err == nil {
		t.Fatal("a pong decoded as an append reply")
	}
	if _, err := protocol.DecodeReply(body, protocol.OpCredit); err == nil {
		t.Fatal("credit has no reply")
	}
}

func TestOps(t *testing.T) {
	// Every op decodes to a request of its own type.
	var ops []string
	for _, r := range roundTripRequests {
		ops = append(ops, string(r.Op()))
	}
	slices.Sort(ops)
	ops = slices.Compact(ops)
	if len(ops) != 12 {
		t.Fatalf("ops %v", ops)
	}
}
