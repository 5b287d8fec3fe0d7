// Package replicator copies journal actions from Kafka, the journal's main storage, into
// Cassandra, its eventually consistent long-term store: the original's replicator
// (evolution-gaming/kafka-journal), writing the same tables the same way, plus a built-in job that
// purges expired journals. `kjournal replicator` runs it.
//
// # Topics and groups
//
// Every Config.DiscoveryInterval (3 s) the replicator lists the Kafka topics; each topic whose
// name starts with one of Config.TopicPrefixes (["journal"]) gets a member of the consumer group
// Config.GroupPrefix + "-" + topic ("replicator-<topic>", the original's group names, so a kjournal
// replicator can take over the committed offsets of a Scala one). Topics are never dropped. The
// groups use sarama's cooperative-sticky assignor with the incremental (KIP-429) rebalance
// protocol, as the original's CooperativeStickyAssignor: when an instance joins or leaves, only
// the partitions that move are revoked, the others keep replicating. A partition without a
// committed offset starts at the oldest record. Config.InstanceID turns on static membership, so
// that a restarted instance takes its partitions back at once instead of after a rebalance.
//
// # Rounds and commit order
//
// Each assigned partition is replicated by a goroutine of its own, one round at a time; the
// partitions do not wait for each other. A round takes the records fetched so far (at most
// Config.MaxBatch) and:
//
//  1. skips the records at or below the partition's pointer2 (read when the partition is
//     assigned) or an earlier round's last offset: they are in Cassandra already;
//  2. groups the others by journal (record key) and compacts each journal's actions with the
//     original's Batch rules (see compact: nothing before the last Purge, merged Appends, the
//     widest Delete, Marks ignored);
//  3. writes the batches of each journal in offset order, Config.KeyParallelism journals at a
//     time, starting from the journal's metajournal row in the head cache (read on a miss): the
//     journal rows first, as one unlogged batch per journal segment (one Cassandra partition),
//     then the metajournal row, one statement per journal and round for single Appends (the
//     store's AppendKnown, DeleteKnown and PurgeKnown, each guarded by the journal's offset);
//  4. hands the round's last offset (Marks and records without actions included) to the
//     partition's pointer2 saver and goes on with the next round.
//
// The saver, a goroutine per partition, saves pointer2 at the newest offset handed over, then
// marks the offset after it for commit; offsets handed over while a save is in flight coalesce
// into the next save, so a partition has one pointer2 write in flight at most and pointer2 never
// goes back. The marked offsets are committed every Config.CommitInterval (1 s), and when a
// partition is revoked or the replicator stops (sarama's auto-commit of marked offsets, as the
// original commits every 5 s); a negative CommitInterval commits each marked offset at once.
//
// So Kafka's committed offset never passes pointer2, and pointer2 never passes a record whose
// rows and metajournal row are not written: a crash at any moment loses nothing, and the
// partition's next owner starts at the committed offset and replays what followed.
//
// # Head cache
//
// A journal's write needs its metajournal row: whether the journal exists, its offset (the
// guard), seq_nr, delete_to, segment size, record_id, expiry and metajournal segment. Each
// assigned partition keeps the rows of its journals as it last read or wrote them
// (Config.HeadCacheSize per partition, 10,000, ~2 MB: the recently written journals), so a journal
// written in consecutive rounds reads its row once, in its first round after the assignment. The
// original does the same with a head per key kept a minute after its last use and dropped with
// the partition. The cache is exact, i.e. equal to the row in Cassandra,
// because nothing else changes the row while the partition is assigned here:
//
//   - all actions of a journal are in one partition (invariant 2 of DESIGN.md), and a partition
//     is assigned to one member of the consumer group at a time; only the replicator writes
//     metajournal, each instance only for the journals of its partitions;
//   - the expiry job does not write metajournal: it produces Purge actions to Kafka, which reach
//     Cassandra through the partition's rounds like any other action, cache included;
//   - the cache lives as long as the claim: a revoked partition's rows are dropped with it, so a
//     partition that comes back after a rebalance (another instance, say a Scala replicator, may
//     have written its journals meanwhile) starts with an empty cache and reads every row again;
//   - a write that fails leaves the row unknown (it may have been applied or not): the journal's
//     entry is dropped and the retried round reads the row again;
//   - a successful write leaves in the cache exactly the row it wrote (the store's *Known
//     methods compute the new row from the old one, as Cassandra applies the statements).
//
// One window remains, as for any consumer that writes elsewhere: an instance cut off from Kafka
// but not from Cassandra goes on with the records it had fetched until its session ends, while
// the group may already have given the partition to another instance after the session timeout.
// Without a cache the same window exists between a head read and its write; with the cache it
// lasts until the instance notices (a round at most per heartbeat). Config.HeadCacheSize < 0
// (--head-cache-size 0) turns the cache off: every journal's row is read in every round.
//
// # Idempotency
//
// A replay is harmless: records at or below pointer2 are skipped; an Append, Delete or Purge at or
// below the journal's metajournal offset changes nothing, and the events of an Append are
// inserted only when they are newer than it; inserts are upserts of the same rows. A replay that
// is chunked differently from the first attempt (a crash in the middle of a round) compacts
// differently, but converges on the same content. One case needs care: a crash between a new
// journal's rows and its metajournal row (rows are written first) leaves rows no metajournal row
// accounts for; if the replay's compaction then drops that Append (a later Purge, or a Delete
// covering it), the original leaves those rows behind, under delete_to, or, after a Purge, to
// reappear in the journal's next incarnation. Here a journal without a metajournal row whose
// compaction would drop Appends gets its actions applied one by one instead, which adopts and
// then removes the rows. The test suite kills a replicator with SIGKILL
// at random moments while journals are written, deleted and purged, and compares every journal
// with the fold of its Kafka actions. A failed round (Cassandra unreachable, say) is retried with
// the same records, with backoff (Config.RetryMin doubling up to RetryMax), until it succeeds or
// the partition is revoked; nothing after it is written meanwhile.
//
// # Poison records
//
// A record of a journal whose action header does not parse, or an Append whose events do not
// decode (or would be rejected by Cassandra: invalid seqNrs, JSON payloads that are not JSON), is
// a poison record. The original has no way past one: its topic replicator fails, retries for a
// minute, then the whole replicator exits, and so does every restart. Config.OnPoison chooses:
//
//   - PoisonStall (default, "stall"): the records before it are replicated and committed; the
//     partition then stops at it and retries it with backoff, logging every attempt at error
//     level with topic, partition, offset and journal id; kjournal_replicator_stalled_partitions
//     counts it and /readyz answers 503, naming it. Other partitions and topics go on. Nothing is
//     lost; an operator fixes the cause (a newer kjournal that reads the record) or chooses skip.
//   - PoisonSkip ("skip"): the record is logged at error level (topic, partition, offset, journal
//     id, error), counted in kjournal_replicator_poison_records_skipped_total, and replicated as
//     if it carried no action. Its journal misses that action in Cassandra, and readers of the
//     journal no longer stumble over it once pointer2 has passed it.
//
// Records without a key, without a "journal.action" header or with an unknown action kind carry no
// action and are skipped silently, as in the original.
//
// # Expiry
//
// As in the original, an Append with expire_after records it in the journal's metajournal row
// (expire_after, and expire_on = the date of round time + expire_after), the last Append's value
// winning and an Append without one removing it. Unlike the original, which leaves purging to an
// external job, the replicator purges expired journals itself: the instance that owns partition 0
// of a topic runs the topic's expiry job, at once and then every Config.ExpiryInterval (1 h), and
// stops it when partition 0 moves elsewhere, so one instance runs it at a time (two may overlap
// for a moment during a rebalance: a second Purge of a journal is harmless). Ownership follows the
// consumer group; no lease table is needed, and with many topics the jobs spread over the
// instances. The job:
//
//   - lists the topic's journals whose expire_on is any date from the previous run's date (the
//     first run: Config.ExpiryLookbackDays, 1, before today) through today, through the
//     metajournal expire_on index (one query per metajournal segment and date, as the
//     original's PurgeExpired);
//   - re-reads each one's metajournal row and purges it only if expire_on is still <= today and
//     updated + expire_after has passed: expire_on is only a date, and a journal with
//     expire_after of a day appended at 23:00 is not purged an hour later;
//   - produces a Purge action to the topic (origin Config.Origin), which is replicated like any
//     other: the metajournal row and the journal rows go, readers (Scala ones included) see the
//     journal as purged, and the next Append starts a new journal.
//
// All dates are UTC: expire_on is written as the UTC date (see journal/cassandra), and "today" is
// the UTC date of the replicator's clock. The original writes expire_on in the replicator JVM's
// time zone; rows a Scala replicator wrote in another zone are at most a day off, which the
// lookback covers. Journals that expired before the lookback (while no job ran) are found by a
// run with a larger Config.ExpiryLookbackDays. An Append that races with its journal's purge (between the job's check and
// the Purge reaching Kafka) is purged with it, as with the original's PurgeExpired.
//
// # Shutdown, health and metrics
//
// When Run's context ends (SIGTERM in `kjournal replicator`), each partition finishes its round
// (Cassandra writes, pointer2, the commit of the marked offsets) and stops; then the replicator leaves its groups, so their
// partitions move to the other instances at once. Config.ShutdownTimeout (30 s) bounds it; after
// it, writes in progress are cancelled, which is safe for the reasons above.
//
// Handler (served by Run on Config.HTTPAddr) answers /healthz (alive), /readyz (ready: Kafka
// connected, topics listed, no partition stalled at a poison record or failing for longer than
// Config.UnreadyAfter; the body is the Status as JSON, with the partitions each topic has here and
// their pointer2) and /metrics: kjournal_replicator_lag_records (per topic and partition: the
// records after pointer2), _events_total (rate() is events/s), _records_total, _actions_total,
// _replication_latency_seconds (append to Cassandra), _round_duration_seconds, _errors_total (by
// stage), _stalled_partitions, _poison_records_skipped_total, _expiry_purges_total,
// _expiry_run_duration_seconds, _topics, _partitions.
//
// # Deviations from the original
//
//   - Poison records: stall without crashing, or skip; the original crashes after a minute.
//   - Expiry is acted on (the job above), with expire_after honoured to the interval rather than
//     to the day; the original only records it. Dates are UTC.
//   - Commits: every Config.CommitInterval (1 s) instead of every 5 s, and only offsets whose
//     pointer2 is saved; the original commits what it processed. A restart replays at most the
//     records after pointer2's commit, and skips those at or below pointer2 without writing.
//   - A round is one partition's batch: partitions do not wait for each other, and a failing
//     partition does not hold up or cancel the others (the original's "pending" test).
//   - Failures are retried in place with the same records and a backoff capped at RetryMax,
//     indefinitely; the original recreates its consumer and gives up (exits) after a minute.
//   - The head cache belongs to a partition's claim and is dropped with it (see Head cache);
//     a failed write drops the journal's entry.
//   - When a poison record stalls a partition, the records before it in the same batch are
//     replicated and committed first.
//   - Compaction is skipped for a journal without a metajournal row when it would drop Appends
//     (see Idempotency): the original can leave rows of an interrupted first write behind, and
//     after a Purge show them in the journal's next incarnation.
package replicator
