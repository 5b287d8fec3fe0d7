package protocol_test

import (
	"testing"

	"github.com/kjournal/kjournal/protocol"
)

// BenchmarkDecodeRequest_Append decodes the request of P2's load: one event with a 200-byte binary
// payload.
func BenchmarkDecodeRequest_Append(b *testing.B) {
	body, err := protocol.EncodeRequest(&protocol.AppendRequest{ID: 7, Journal: "bench_p2j_0042", Topic: "bench_p2",
		Events: []protocol.Event{{SeqNr: 42, PayloadType: protocol.PayloadBinary, Payload: make([]byte, 200)}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestDecoder_Append is BenchmarkDecodeRequest_Append with the decoder a connection's
// reader keeps.
func BenchmarkRequestDecoder_Append(b *testing.B) {
	body, err := protocol.EncodeRequest(&protocol.AppendRequest{ID: 7, Journal: "bench_p2j_0042", Topic: "bench_p2",
		Events: []protocol.Event{{SeqNr: 42, PayloadType: protocol.PayloadBinary, Payload: make([]byte, 200)}}})
	if err != nil {
		b.Fatal(err)
	}
	var d protocol.RequestDecoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
