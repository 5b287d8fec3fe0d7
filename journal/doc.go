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
//
// # The journal library
//
// [New] builds [Journals] over a [Log] (Kafka, journal/kafka) and an [Eventual] (Cassandra,
// journal/cassandra). [Journal.Append] returns only after Kafka acknowledged the record.
// [Journal.Read] produces a Mark, folds the unreplicated actions before it into a [HeadInfo], and
// only then returns a [Stream]; its events come from Cassandra from max(from, deleteTo+1), then from
// the Kafka tail up to the marker, each seqNr at most once and none above [Stream.HighestSeqNr] (the
// pointer as of the marker, so a recovery costs one Mark, not two). [Journal.Pointer] and
// [Journal.Delete] share the same prologue; Delete clamps to the pointer, so deleting up to
// MaxSeqNr keeps the journal usable and its pointer unchanged.
//
// # Head cache
//
// Per topic, one Kafka consumer shared by every read in the process follows all partitions and
// indexes the unreplicated actions (and the values of unreplicated Appends) per journal id, trimmed as
// pointer2 advances (polled every 100ms). The headers of marks (most of a busy topic's records) and
// of Appends in the form this package writes them are decoded by [DecodeActionHeader] with a byte
// scan, not a JSON decoder. A read whose marker the index has reached is
// answered from it without a consumer of its own; a read it cannot answer within
// HeadCacheConfig.Timeout, or one of whose own actions was evicted by the size bounds, scans Kafka
// itself with a consumer from journal/kafka's bounded pool. The index remembers, per partition, the
// offset and id of what left it (trimmed or evicted), so an eviction of other journals' actions does
// not send a read to a scan. The index folds each query's own range (pointer2, marker], so actions
// produced after the marker never leak into a read.
//
// A read's unreplicated tail not held by the index is scanned in chunks: each chunk takes a pooled
// consumer, copies at most 16 of the journal's Appends and gives the consumer back before emitting
// them, so a stalled reader keeps its position, not a consumer or a fetched batch.
//
// # Subscriptions
//
// Journal.Subscribe follows one journal: a Read from the subscription's next seqNr (its catch-up), then
// the journal's actions after that Read's Mark, taken from the head cache's index as the shared follower
// adds them (no consumer per subscription). When the index can no longer answer from the subscription's
// position — the actions it has not delivered were trimmed once replicated, or evicted — the next Next
// starts a new Read from its next seqNr and follows on from that Read's Mark. A Delete while following
// changes nothing (the deleted events were delivered, in log order); a Purge ends the subscription with
// ErrJournalPurged. Journals.SubscribeAll follows every Append of a topic in partition order with each
// event's position, from the index when it holds the range and otherwise with chunked scans on pooled
// consumers (Log.Scan with id ""); from "latest" it starts at the partitions' end offsets when the Log
// knows them (journal/kafka does). Neither holds memory or a consumer between Next calls.
//
// # What is cached, and why it is never stale in a way that matters
//
//   - pointer2 offsets, for Config.Pointer2TTL (100ms), in reads that scan Kafka themselves. pointer2
//     only grows, and an older value only makes the scan start earlier and fold actions Cassandra
//     already has, which is harmless: applying a replicated action again to a HeadInfo gives the same
//     read (DESIGN.md, invariant 4).
//
//   - a journal's metajournal row (seq_nr, delete_to, segment size, record_id), in an LRU keyed by
//     journal (Config.HeadLRUSize), so that a repeated read costs only the event-row query. An entry
//     carries upTo, an offset of the journal's partition such that the row reflects every action of
//     the journal at or below it. When the row is read, upTo is the pointer2 sample the read folded
//     from, taken before the lookup; the replicator writes metajournal before pointer2, so every action
//     at or below the sample is in the row. (It may reflect later actions too, as any row read while
//     the replicator runs does.)
//
//     A read that folds (P, marker) may use the row iff the row reflects every action of the journal at
//     or below P: then the row plus the fold is what a fresh lookup plus the fold gives, because the
//     fold covers every action the row may lack, and folding an action the row already has changes
//     nothing (invariant 4). That holds when upTo >= P, or when the journal had no action in (upTo, P]:
//     the head cache knows this from what left its index (the record reaches back 4 × MaxActions
//     actions), a read without it only when upTo >= P.
//     A row found usable is re-tagged with upTo = P, so it keeps hitting on a busy partition while
//     pointer2 moves on. Each field stays exact. seq_nr: a newer Append is in the fold (HeadAppend's
//     seqNr is the read's highest) or in the row. delete_to: a newer Delete is in the fold
//     (HeadInfo.DeleteTo applies over the row's), and the rows it removed are gone from the journal
//     table, which is always read live. Purge, and the segment size and record_id a new incarnation
//     gets after it: the Purge is in the fold (HeadPurge or Purged: Cassandra is not read at all) or
//     in the row. Rows replicated after the row was read are read live; the walk stops at the row's
//     last segment only where seqNrs skip a whole segment, and the events of the fold's Appends come
//     from the Kafka tail anyway. So a kept row can neither hide a Delete or Purge (resurrect events)
//     nor lose an event: whatever it lacks is in the fold. Our own writes also evict the entry.
//
//   - the head cache index described above, which is exact for the ranges it answers.
//
// Event rows themselves are never cached: they stream from Cassandra page by page.
//
// # Corner cases of the original that this package fixes
//
//   - Purge followed by Append, both unreplicated: the original folds them into a plain Append and
//     reads Cassandra first, resurrecting pre-purge events. HeadInfo.Purged makes such reads skip
//     Cassandra.
//   - Waiting for the marker has a deadline (Config.MarkerTimeout); exceeding it fails with
//     [ErrMarkerTimeout], which callers treat as retryable.
//   - A seqNr gap at a Cassandra segment boundary does not end a read (journal/cassandra reads up to
//     the journal's seq_nr).
package journal
