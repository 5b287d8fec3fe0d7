package protocol_test

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/kjournal/kjournal/protocol"
)

// TestRequestDecoder_MatchesDecodeRequest decodes every request vector, valid and invalid, one
// after the other with one RequestDecoder, with and without ReuseAppends: each result (request or
// error) is what DecodeRequest gives for the body alone, so nothing of one body leaks into the next.
// With ReuseAppends, a reused append request is compared before the next Decode, as it is valid
// only until then.
func TestRequestDecoder_MatchesDecodeRequest(t *testing.T) {
	vf := loadVectors(t)
	var bodies [][]byte
	for _, v := range vf.Vectors {
		if v.Direction == "request" {
			bodies = append(bodies, readHexFrame(t, v.Hex))
		}
	}
	for _, v := range vf.InvalidRequests {
		raw, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, raw[protocol.FrameHeaderSize:])
	}
	if len(bodies) < 20 {
		t.Fatalf("only %d request vectors", len(bodies))
	}
	for _, reuse := range []bool{false, true} {
		d := protocol.RequestDecoder{ReuseAppends: reuse}
		for round := range 2 { // the second round decodes into arrays grown by the first
			for i, body := range bodies {
				want, wantErr := protocol.DecodeRequest(body)
				got, gotErr := d.Decode(append([]byte(nil), body...))
				if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
					t.Fatalf("reuse %v, round %d, body %d (%x):\n got %#v, %v\nwant %#v, %v", reuse, round, i, body, got, gotErr, want, wantErr)
				}
			}
		}
	}
}
