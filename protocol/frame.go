package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// FrameHeaderSize is the size of a frame's length prefix: a big-endian uint32 body length.
const FrameHeaderSize = 4

// firstChunk is how much ReadFrame allocates before the body's bytes arrive; it grows the buffer
// only as data comes in, so a peer announcing a large frame and then stalling costs little memory.
const firstChunk = 64 << 10

// ReadFrame reads one frame from r (use a *bufio.Reader) and returns its body.
//
// It returns io.EOF when r ends cleanly before a frame, io.ErrUnexpectedEOF when r ends inside one,
// and an *Error with CodeFrameTooLarge, without reading the body, when the announced length exceeds
// max; after that error the stream is out of sync and must be closed. It never allocates more than
// max bytes: it starts with at most 64 KiB and doubles the buffer only as the body's bytes arrive, so
// a peer that announces a large frame and sends little of it costs little memory.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	return ReadFrameInto(r, max, nil)
}

// ReadFrameInto is ReadFrame reading the body into buf's array when the body fits in its capacity
// (a reader that decodes each body before it reads the next one allocates no buffer per frame: the
// decoded requests and replies copy what they keep).
func ReadFrameInto(r io.Reader, max int, buf []byte) ([]byte, error) {
	var hdr [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if max < 0 || uint64(n) > uint64(max) {
		return nil, NewError(0, CodeFrameTooLarge, "frame of %d bytes exceeds max_frame_bytes %d", n, max)
	}
	size := int(n)
	if size <= cap(buf) {
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	buf = make([]byte, min(size, firstChunk))
	read := 0
	for {
		m, err := io.ReadFull(r, buf[read:])
		read += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if read == size {
			return buf, nil
		}
		grown := make([]byte, min(size, 2*len(buf)))
		copy(grown, buf)
		buf = grown
	}
}

// WriteFrame writes body with its length prefix in one Write call (to a *bufio.Writer, flush after).
func WriteFrame(w io.Writer, body []byte) error {
	if uint64(len(body)) > math.MaxUint32 {
		return fmt.Errorf("protocol: frame body of %d bytes does not fit the length prefix", len(body))
	}
	frame := make([]byte, FrameHeaderSize+len(body))
	binary.BigEndian.PutUint32(frame, uint32(len(body)))
	copy(frame[FrameHeaderSize:], body)
	_, err := w.Write(frame)
	return err
}

// AppendFrame appends body with its length prefix to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}
