package protocol_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/kjournal/kjournal/protocol"
)

func TestFrame_roundTrip(t *testing.T) {
	var buf bytes.Buffer
	bodies := [][]byte{{}, {0x80}, bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 200<<10)}
	bw := bufio.NewWriter(&buf)
	for _, b := range bodies {
		if err := protocol.WriteFrame(bw, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	for _, want := range bodies {
		got, err := protocol.ReadFrame(r, len(want))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("body of %d bytes differs", len(want))
		}
	}
	if _, err := protocol.ReadFrame(r, 10); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// TestReadFrameInto reads bodies that fit into the caller's buffer there, and the others into a new one.
func TestReadFrameInto(t *testing.T) {
	var in []byte
	bodies := [][]byte{bytes.Repeat([]byte{1}, 100), {0x80}, bytes.Repeat([]byte{2}, 200<<10), {}}
	for _, b := range bodies {
		in = protocol.AppendFrame(in, b)
	}
	in = append(in, 0, 0, 0, 5, 1, 2) // a partial body that would fit
	r := bufio.NewReader(bytes.NewReader(in))
	buf := make([]byte, 0, 128)
	for _, want := range bodies {
		got, err := protocol.ReadFrameInto(r, 1<<20, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("body of %d bytes differs", len(want))
		}
		if len(want) == 0 {
			continue
		}
		if inBuf, fits := &got[0] == &buf[:1][0], len(want) <= cap(buf); inBuf != fits {
			t.Fatalf("body of %d bytes: in the caller's buffer %v, want %v", len(want), inBuf, fits)
		}
	}
	if _, err := protocol.ReadFrameInto(r, 1<<20, buf); err != io.ErrUnexpectedEOF {
		t.Fatalf("partial body: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadFrame_errors(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		max  int
		want error
	}{
		"partial header": {[]byte{0, 0}, 10, io.ErrUnexpectedEOF},
		"partial body":   {[]byte{0, 0, 0, 5, 1, 2}, 10, io.ErrUnexpectedEOF},
		"too large":      {[]byte{0, 0, 0, 11}, 10, protocol.ErrFrameTooLarge},
		"max+1 of 16MiB": {[]byte{1, 0, 0, 1}, protocol.DefaultMaxFrameBytes, protocol.ErrFrameTooLarge},
	} {
		_, err := protocol.ReadFrame(bytes.NewReader(c.in), c.max)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// stall is a reader that delivers its bytes, then blocks until closed.
type stall struct {
	data []byte
	done chan struct{}
}

func (s *stall) Read(p []byte) (int, error) {
	if len(s.data) > 0 {
		n := copy(p, s.data)
		s.data = s.data[n:]
		return n, nil
	}
	<-s.done
	return 0, io.EOF
}

// TestReadFrame_allocation checks that a peer announcing a large frame and sending little of it costs
// memory in proportion to what it sent, not to what it announced.
func TestReadFrame_allocation(t *testing.T) {
	s := &stall{data: append([]byte{0, 0xff, 0, 0}, make([]byte, 1000)...), done: make(chan struct{})}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	errc := make(chan error)
	go func() {
		_, err := protocol.ReadFrame(s, protocol.DefaultMaxFrameBytes)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	runtime.ReadMemStats(&after)
	close(s.done)
	if err := <-errc; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("%d bytes allocated for a 16 MiB announcement with 1000 bytes sent", alloc)
	}
}

func TestAppendFrame(t *testing.T) {
	got := protocol.AppendFrame([]byte{9}, []byte{0x80})
	if !bytes.Equal(got, []byte{9, 0, 0, 0, 1, 0x80}) {
		t.Fatalf("%x", got)
	}
}
