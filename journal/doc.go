// Package journal holds the domain of kjournal: journal keys, sequence
// numbers, events, the actions Kafka stores, and the codecs for the Kafka
// record formats of evolution-gaming/kafka-journal, which kjournal stays
// byte- and wire-compatible with.
//
// It does not import sarama or gocql; the adapters live in the subpackages
// journal/kafka and journal/cassandra.
//
// # What a journal is
//
// A journal is the ordered, append-only history of events of one entity
// (for example one order, one player session). Kafka is the main storage:
// every write is produced as a Kafka record (an "action") and is durable as
// soon as Kafka acknowledged it. A replicator copies the actions into
// Cassandra, the eventually consistent long-term store, so that reads do not
// depend on Kafka retention. A read merges the two: the replicated history
// from Cassandra, then the not yet replicated tail from Kafka.
//
// # Key
//
// A journal is identified by a [Key]: a Kafka topic and an id. Many journals
// share one topic. The Kafka record key is the id and the partition is chosen
// by Kafka's default (Java murmur2) key partitioner, so every action of a
// journal lands in the same partition, in order. Key.String is "topic:id".
//
// # SeqNr
//
// Events are numbered by a [SeqNr], a 1-based int64 in [MinSeqNr, MaxSeqNr].
// The numbers of a journal increase but may skip values. Zero is not a valid
// SeqNr; "no seqNr" is expressed with an ok bool or a zero value where the
// API says so (for example SeqNr.Prev on MinSeqNr).
//
// # Actions
//
// Kafka stores actions, not events. Each action record carries the JSON
// header "journal.action" (an [ActionHeader]) and, for Append only, a value:
//
//   - Append atomically appends a contiguous batch of events (a [SeqRange]).
//     Its value holds the events in the JSON format when no event has a
//     binary payload, otherwise in the binary format (see [EncodeEvents]).
//   - Delete(to) deletes every event with seqNr <= to. It does not affect
//     later appends, and is valid as the first action of a journal.
//   - Purge removes the journal completely; the next Append starts a new one.
//   - Mark has no storage effect. It is a system action, see below.
//
// Headers of unknown action kinds decode to a nil ActionHeader: records
// written by a newer version are ignored rather than treated as corrupt.
//
// # Markers and pointers
//
// A reader cannot know, from Cassandra alone, whether the journal has
// unreplicated actions in Kafka, and it must not stream any event before it
// knows there is no Delete or Purge among them. So a read first produces a
// Mark action with a random id into the journal's partition. The offset of
// that Mark (the marker) is "now": every action of the journal produced
// before the read started lies below it. The reader then reads the
// partition from just after the replicator's pointer up to the marker, folds
// the actions it finds, and only then streams events — from Cassandra
// first, then from Kafka, dropping seqNrs it already emitted.
//
// Pointers are the replicator's progress: per topic partition, the offset up
// to which actions have been written to Cassandra (table pointer2), and per
// journal, the partition offset of the last action applied to it. Anything
// above the pointer is "the head" and must come from Kafka. Because every
// read, pointer and delete produces a Mark, marks are the main write
// amplification of the design; they are skipped by the replicator apart from
// advancing its pointers.
package journal
