package journal_test

import (
	"testing"

	"github.com/kjournal/kjournal/journal"
)

// BenchmarkEncodeActionHeader_Append encodes the journal.action header of a one-event append, as
// journal/kafka does for every record.
func BenchmarkEncodeActionHeader_Append(b *testing.B) {
	h := &journal.AppendHeader{Range: journal.SeqRange{From: 42, To: 42}, Origin: "sidecar-7f9c", Version: journal.Version,
		PayloadType: journal.PayloadBinary}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := journal.EncodeActionHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEvents_Binary encodes the value of a one-event append with a 200-byte binary
// payload (P2's load).
func BenchmarkEncodeEvents_Binary(b *testing.B) {
	events := []journal.Event{{SeqNr: 42, Payload: journal.BinaryPayload(make([]byte, 200))}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := journal.EncodeEvents(events, journal.PayloadMetadata{}); err != nil {
			b.Fatal(err)
		}
	}
}
