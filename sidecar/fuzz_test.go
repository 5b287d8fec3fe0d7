package sidecar_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/kjournal/kjournal/protocol"
	"github.com/kjournal/kjournal/sidecar"
)

// FuzzSidecar_Connection writes arbitrary bytes to a connection of a sidecar over the in-memory
// backends: whatever they are, the sidecar answers or closes, and goes on serving other connections.
func FuzzSidecar_Connection(f *testing.F) {
	frame := func(reqs ...protocol.Request) []byte {
		var b []byte
		for _, r := range reqs {
			body, err := protocol.EncodeRequest(r)
			if err != nil {
				f.Fatal(err)
			}
			b = protocol.AppendFrame(b, body)
		}
		return b
	}
	hello := &protocol.HelloRequest{ID: 1, Versions: []uint32{1}}
	f.Add(frame(hello, &protocol.PingRequest{ID: 2}))
	f.Add(frame(hello, &protocol.AppendRequest{ID: 2, Journal: "j", Events: []protocol.Event{{SeqNr: 1, PayloadType: protocol.PayloadText, Payload: "x"}}},
		&protocol.ReadRequest{ID: 3, Journal: "j", Credit: 1}, &protocol.CreditRequest{ID: 3, N: 5}, &protocol.CancelRequest{ID: 3}))
	f.Add(frame(hello, &protocol.ReadRequest{ID: 2, Journal: "j", Credit: 0}, &protocol.CancelRequest{ID: 2},
		&protocol.DeleteRequest{ID: 3, Journal: "j", To: 1}, &protocol.PurgeRequest{ID: 4, Journal: "j"}, &protocol.PointerRequest{ID: 5, Journal: "j"}))
	f.Add(append(frame(hello), 0, 0, 0, 3, 0x81, 0xa2, 'i'))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 0xc1})

	h := startFake(f, func(cfg *sidecar.Config) {
		cfg.MaxFrameBytes = 1 << 16
		cfg.DefaultTimeout = time.Second
	})
	f.Fuzz(func(t *testing.T, input []byte) {
		nc, err := net.Dial("unix", h.socket)
		if err != nil {
			t.Fatal(err)
		}
		// Write while reading the replies (a client that does not read gets no more of its frames read),
		// then half-close: the sidecar ends the connection at the end of the input, streams included.
		go func() {
			_, _ = nc.Write(input)
			_ = nc.(*net.UnixConn).CloseWrite()
		}()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			t.Fatalf("the sidecar did not close the connection at the end of the input: %v", err)
		}
		_ = nc.Close()
		c := connect(t, h.socket)
		c.ping()
		_ = c.nc.Close()
	})
}
