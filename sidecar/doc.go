// Package sidecar is the kjournal sidecar: a server on a Unix socket that speaks the protocol of
// package protocol (PROTOCOL.md) and serves it with a *journal.Journals, plus a small HTTP server for
// health and metrics. It runs in the application's pod; the application reaches it through a client
// library (clients/python, clients/node) or any implementation of PROTOCOL.md.
//
// # Connections
//
// Each accepted connection gets one reader goroutine. The reader reads through a 64 KiB buffer, so
// one read syscall brings in every frame the client has sent so far, and decodes and dispatches each
// of them before it reads again, without waiting for any backend: requests on one connection run
// concurrently and their replies go out in the order they finish. An append costs no goroutine: the
// reader builds its record and hands it to the producer (journal.Journal.AppendAsync), so the appends
// of a connection reach Kafka's producer in the order they were read, and the producer's result
// goroutine queues the reply once Kafka acknowledged the record. The reader decodes appends into one
// reused request whose binary payloads alias the frame (protocol.RequestDecoder.ReuseAppends: the
// record is encoded before AppendAsync returns), and the appends it reads within 5 ms of each other
// share one deadline context (appendDeadline). Every other request runs in a goroutine of its own.
// There is no writer goroutine: a goroutine with a frame to send queues it and writes the queue
// itself unless a write is in progress, whose goroutine then writes it next; so frames never
// interleave, and replies finishing during a write are coalesced into the next one. Small frames are
// encoded into pooled buffers and copied into a per-connection slab, one after the other, so a batch
// of replies is one contiguous write and a reply allocates nothing. Append replies are only queued
// (the producer's result goroutine must never wait for one client): when nobody is writing, a
// goroutine is started that writes the queue. Senders wait while 64 KiB are queued behind a write, and
// the reader waits likewise before it starts an append: a client slow to read pushes back on the
// requests answering it, and the sidecar's memory for it stays bounded (64 KiB plus the replies of the
// appends in flight, at most MaxInFlight).
//
// # Read streams and credit
//
// A read pulls events from journal.Stream.Events (with iter.Pull2) only while the client has granted
// credit, and sends at most that many events, batched into frames under max_frame_bytes. With zero
// credit the stream's goroutine waits and nothing is fetched, so a client that stops consuming holds
// a bounded amount of memory in the sidecar (the batch in hand and the backend's current page) and
// does not hold up the other requests on its connection. The read's deadline covers the sidecar's
// own work (the Mark, resolving the head, each fetch) and is paused while the stream waits for credit.
//
// # Limits
//
// MaxConnections, MaxInFlight (per connection, read streams included) and MaxFrameBytes are enforced
// with the protocol's error codes: TOO_MANY_CONNECTIONS (then close), TOO_MANY_REQUESTS (only that
// request fails), FRAME_TOO_LARGE (then close: the byte stream cannot be resynchronised).
//
// # Shutdown
//
// When Run's context ends the server stops accepting, answers new requests with SHUTTING_DOWN, ends
// open read streams with SHUTTING_DOWN, and lets the other requests in flight — appends above all —
// finish for Config.ShutdownGrace; what is still running then fails with SHUTTING_DOWN. Each
// connection finally gets {id: 0, error: SHUTTING_DOWN} and is closed, and the socket file is
// removed. An append is acknowledged only after Kafka acknowledged it, and an acknowledgement that
// was produced is written before the connection closes. The caller then closes the Journals and the
// Kafka log, which flushes the producer.
//
// # Errors
//
// errors.go is the one place where journal errors become wire codes.
//
// # Caveats
//
// A stream that waits for credit while it reads the unreplicated tail from Kafka itself (when the
// head cache could not answer its read) keeps one of journal/kafka's pooled scan consumers and that
// consumer's last fetch: at most 1 MiB of records as Kafka stores them, more once decompressed when
// the payloads compress well. Many such stalled streams can make other reads wait for a consumer.
//
// A client that sends requests without reading the replies is pushed back: once its replies fill the
// socket and the writer's queue, the sidecar stops reading its frames.
package sidecar
