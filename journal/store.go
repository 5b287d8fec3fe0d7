package journal

import (
	"context"
	"errors"
	"iter"
)

// Errors of the storage backends and of the journal operations. Adapters wrap the backend's own error
// with one of these (fmt.Errorf("%w: %v", ErrKafkaUnavailable, err)), so callers such as the sidecar
// map them to wire codes with errors.Is, without knowing sarama or gocql.
var (
	// ErrKafkaUnavailable: Kafka did not answer or refused; retrying later may succeed.
	ErrKafkaUnavailable = errors.New("journal: kafka unavailable")
	// ErrCassandraUnavailable: Cassandra did not answer or refused; retrying later may succeed.
	ErrCassandraUnavailable = errors.New("journal: cassandra unavailable")
	// ErrMarkerTimeout: a read did not reach its own marker in Kafka before its deadline.
	ErrMarkerTimeout = errors.New("journal: marker not reached before the deadline")
	// ErrDataIntegrity: stored data contradicts the journal's invariants (an undecodable record of the
	// journal, a duplicated seqNr); retrying does not help.
	ErrDataIntegrity = errors.New("journal: data integrity violated")
	// ErrClosed: the Journals (or one of its backends) was closed.
	ErrClosed = errors.New("journal: closed")
	// ErrRecordTooLarge: the action's Kafka record is larger than the producer or the broker accepts;
	// retrying does not help, smaller appends do.
	ErrRecordTooLarge = errors.New("journal: record too large")
)

// Log is the Kafka side of a journal: where actions are produced and read back. journal/kafka
// implements it on sarama; journaltest has an in-memory one for unit tests of pure logic.
type Log interface {
	// Produce writes one action and returns only after Kafka acknowledged it (acks=all). Concurrent
	// calls are batched into produce requests; they do not wait for each other's round trips.
	Produce(ctx context.Context, a Action) (PartitionOffset, error)

	// ProduceAsync is Produce without waiting: it enqueues the action (in the order of the calls, so
	// the actions of one journal stay in the order they were enqueued in) and calls done once, with
	// what Produce would have returned, when Kafka acknowledged it, failed it or ctx ended. done may
	// run on another goroutine or before ProduceAsync returns; it must not block.
	ProduceAsync(ctx context.Context, a Action, done func(PartitionOffset, error))

	// Partitions lists the partitions of topic.
	Partitions(ctx context.Context, topic string) ([]int32, error)

	// Scan calls fn, in offset order, for each action of journal id (of every journal when id is "") in
	// topic/partition with an offset in [from, to]. Records of other journals are skipped without decoding their values; records of id
	// without a known action header are skipped. A record of id whose header cannot be parsed fails the
	// scan with an error wrapping ErrMalformedHeader. Scan returns when it passed offset to, when fn
	// returns an error (returned as is), or when ctx ends. Scans draw consumers from a bounded pool.
	Scan(ctx context.Context, topic string, partition int32, from, to int64, id string, fn func(ActionRecord) error) error

	// Follow consumes every partition of topic, each from the offset in from (a partition missing in from
	// starts at the oldest offset), and calls fn with each fetched batch in offset order until ctx ends
	// or a non-retryable error occurs. One consumer serves the whole topic.
	Follow(ctx context.Context, topic string, from map[int32]int64, fn func(partition int32, batch []LogRecord)) error
}

// LogRecord is one record seen by Log.Follow. Every record advances the follower's position, so
// records that carry no action (no key, no header, unknown action kind) still appear, with Action nil.
type LogRecord struct {
	Offset int64
	// ID is the record key (the journal id); "" for records without a key.
	ID string
	// Action is the decoded action; nil when the record carries none.
	Action *ActionRecord
	// Err is set when the record has key ID but its action header cannot be parsed.
	Err error
}

// Eventual is the read side of Cassandra, the eventually consistent store the replicator fills.
// journal/cassandra implements it.
type Eventual interface {
	// JournalHead returns the journal's metajournal row; the zero EventualHead when Cassandra has no row
	// for it.
	JournalHead(ctx context.Context, key Key) (EventualHead, error)

	// Offset returns pointer2: the highest offset of topic/partition whose actions are all in
	// Cassandra. ok is false when nothing of that partition has been replicated yet.
	Offset(ctx context.Context, topic string, partition int32) (offset int64, ok bool, err error)

	// ReadHead streams the journal's events with seqNr >= from in seqNr order, laid out and deleted as
	// head (an earlier JournalHead of the journal) says, lazily (memory stays bounded however long the
	// journal is). Nothing is yielded for the zero head.
	ReadHead(ctx context.Context, key Key, head EventualHead, from SeqNr) iter.Seq2[EventRecord, error]
}

// EventualHead is a journal's metajournal row as a read needs it: its last seqNr, its delete_to, and
// where its event rows are. Journals keeps it in an LRU, so a repeated read costs only the event rows
// (see the package doc for when a kept row is still exact).
type EventualHead struct {
	// SeqNr is the journal's last seqNr in Cassandra (metajournal seq_nr), 0 when it has no row.
	SeqNr SeqNr
	// DeleteTo is the highest deleted seqNr, 0 when none.
	DeleteTo SeqNr
	// Layout is the adapter's own part of the row that its ReadHead needs (journal/cassandra: the
	// segment size and the record_id); nil when Cassandra has no row. Journals only hands it back.
	Layout any
}
