package protocol_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/kjournal/kjournal/protocol"
)

// seedBodies adds every vector's body (valid and invalid) to a fuzz corpus.
func seedBodies(f *testing.F, withPrefix bool) {
	v := loadVectors(f)
	var frames []string
	for _, x := range v.Vectors {
		frames = append(frames, x.Hex)
		if x.CanonicalHex != "" {
			frames = append(frames, x.CanonicalHex)
		}
	}
	for _, x := range v.InvalidRequests {
		frames = append(frames, x.Hex)
	}
	for _, h := range frames {
		raw, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		if withPrefix {
			f.Add(raw)
		} else {
			f.Add(raw[protocol.FrameHeaderSize:])
		}
	}
	if withPrefix {
		for _, x := range v.InvalidFrames {
			raw, _ := hex.DecodeString(x.Hex)
			f.Add(raw)
		}
	}
}

// FuzzReadFrame: any byte stream yields frames no larger than the limit whose re-encoding is the
// consumed input, or an error; never a panic.
//
//	go test ./protocol -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime 60s
func FuzzReadFrame(f *testing.F) {
	seedBodies(f, true)
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 10
		r := bytes.NewReader(in)
		var consumed []byte
		for {
			body, err := protocol.ReadFrame(r, max)
			if err != nil {
				var pe *protocol.Error
				if errors.As(err, &pe) && pe.Code != protocol.CodeFrameTooLarge {
					t.Fatalf("unexpected code %v", pe)
				}
				break
			}
			if len(body) > max {
				t.Fatalf("body of %d bytes > max %d", len(body), max)
			}
			consumed = protocol.AppendFrame(consumed, body)
		}
		if !bytes.HasPrefix(in, consumed) {
			t.Fatal("frames do not re-encode to the input")
		}
	})
}

// FuzzDecodeRequest: any body is either a request whose canonical encoding decodes to the same
// request, or an *Error with a known code and a valid reply id; never a panic.
//
//	go test ./protocol -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 60s
func FuzzDecodeRequest(f *testing.F) {
	seedBodies(f, false)
	prev, err := protocol.EncodeRequest(&protocol.AppendRequest{ID: 9, Journal: "j", Events: []protocol.Event{
		{SeqNr: 1, PayloadType: protocol.PayloadBinary, Payload: []byte{1, 2}},
		{SeqNr: 2, Tags: []string{"t"}, PayloadType: protocol.PayloadText, Payload: "x"},
		{SeqNr: 3, PayloadType: protocol.PayloadJSON, Payload: map[string]any{"k": int64(1)}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := protocol.DecodeRequest(body)
		// A connection's decoder, reused after another append, gives the same.
		d := protocol.RequestDecoder{ReuseAppends: true}
		if _, err := d.Decode(prev); err != nil {
			t.Fatal(err)
		}
		if got, gotErr := d.Decode(body); !reflect.DeepEqual(got, req) || !reflect.DeepEqual(gotErr, err) {
			t.Fatalf("a reused RequestDecoder differs from DecodeRequest\n%#v, %v\n%#v, %v", got, gotErr, req, err)
		}
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *protocol.Error: %v", err, err)
			}
			if _, ok := pe.Code.Info(); !ok || pe.ID > protocol.MaxID {
				t.Fatalf("bad error %#v", pe)
			}
			if _, err := protocol.EncodeReply(pe); err != nil {
				t.Fatalf("error frame does not encode: %v", err)
			}
			return
		}
		canon, err := protocol.EncodeRequest(req)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", req, err)
		}
		again, err := protocol.DecodeRequest(canon)
		if err != nil {
			t.Fatalf("canonical form does not decode: %v", err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("canonical round trip changed the request\n%#v\n%#v", req, again)
		}
		canon2, _ := protocol.EncodeRequest(again)
		if !bytes.Equal(canon, canon2) {
			t.Fatal("canonical encoding is not stable")
		}
	})
}
