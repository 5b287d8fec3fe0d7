// Package protocol is the wire layer between kjournal clients and the kjournal sidecar: frames,
// message types, error codes. PROTOCOL.md in this directory is the specification for implementers in
// other languages; this package is the Go implementation of it and the sidecar's only way to read
// and write the socket. It knows nothing of Kafka or Cassandra: the sidecar converts between these
// messages and the journal package's types.
//
// # Frames
//
// A frame is a 4-byte big-endian body length followed by the body, one msgpack map with string keys.
// ReadFrame checks the length against the connection's max_frame_bytes before it allocates, and
// grows its buffer only as bytes arrive; WriteFrame and AppendFrame add the prefix.
//
// # Messages
//
// Every request carries a client-chosen id (1..2^53-1) and an op; every reply carries the id of the
// request it answers. DecodeRequest turns a body into one of the *XxxRequest types, validating every
// field; EncodeReply writes a reply canonically. DecodeReply and EncodeRequest are the client side,
// used by tests and Go tools. Each message family lives in its own file (msg_append.go, msg_read.go,
// ...), named like the sidecar's handlers.
//
// A read is a stream: ReadEvents frames, then one ReadEnd, with credit-based flow control — the
// sidecar never sends more events than the client granted (ReadRequest.Credit plus every
// CreditRequest.N), so a slow reader holds no memory in the sidecar and does not stall the other
// requests on its connection. ReadEnd.HighestSeqNr is the journal's pointer as of the same Mark the
// read used, so a recovery (read everything, then continue from the highest seq_nr) costs one Mark.
// The Mark is what makes read, pointer and delete consistent: the sidecar produces a Mark record to
// the journal's partition and serves exactly the actions before it, so a read sees every append that
// was acknowledged before the read began, and no event that a delete or purge before it removed.
//
// # Errors
//
// Errors cross the wire as {code, message, retryable} with numeric codes from codes.json, shared with
// the Python and Node clients; codes_gen.go is generated from it (go generate ./protocol). *Error is
// both the Go error and the error frame; errors.Is matches by code against the ErrXxx sentinels.
// DecodeRequest's errors carry the id their error frame must use: 0 for connection-level errors.
//
// # Canonical encoding
//
// The encoders write one canonical form (PROTOCOL.md, "Canonical encoding"): keys in the order of
// the field tables, optional request fields omitted when unset, every reply key present (nil when
// empty), the smallest msgpack header for each integer, string, binary, array and map, floats as
// float 64, and JSON object keys, header keys and tags sorted. testdata/vectors.json pins it.
// Decoders accept any valid encoding of the same values.
//
// # Caveats
//
// A TIMEOUT or KAFKA_UNAVAILABLE answer to an append does not mean the events were not written:
// the produce may have succeeded after the deadline. Retrying appends the same seq_nrs again, which
// readers tolerate (duplicates are dropped by seq_nr), as in kafka-journal.
package protocol
