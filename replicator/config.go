package replicator

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidConfig: a Config that fails validation.
	ErrInvalidConfig = errors.New("replicator: invalid config")
	// ErrPoisonRecord: a record of a journal that cannot be decoded (its action header does not
	// parse, or an Append's events do not decode). Returned wrapped in a *PoisonError.
	ErrPoisonRecord = errors.New("replicator: poison record")
)

// PoisonError names a record the replicator cannot decode. It wraps ErrPoisonRecord and the
// decoding error.
type PoisonError struct {
	Topic     string
	Partition int32
	Offset    int64
	ID        string // the record key, the journal id
	Err       error
}

func (e *PoisonError) Error() string {
	return fmt.Sprintf("replicator: poison record %s/%d at offset %d (journal %q): %v", e.Topic, e.Partition, e.Offset, e.ID, e.Err)
}

// Unwrap returns ErrPoisonRecord and the cause.
func (e *PoisonError) Unwrap() []error { return []error{ErrPoisonRecord, e.Err} }

// PoisonMode is what the replicator does with a record it cannot decode.
type PoisonMode string

const (
	// PoisonStall (the default) stops the partition at the record: the records before it are
	// replicated and committed, the record is retried with backoff (each attempt logged with
	// topic, partition and offset), kjournal_replicator_stalled_partitions counts the partition
	// and /readyz reports not ready, until an operator deploys a version that reads the record or
	// switches to PoisonSkip. Like the original, which stalls too, but without crashing.
	PoisonStall PoisonMode = "stall"
	// PoisonSkip logs the record (topic, partition, offset, journal id, error), counts it in
	// kjournal_replicator_poison_records_skipped_total and replicates as if it were not there: its
	// journal loses that action in Cassandra.
	PoisonSkip PoisonMode = "skip"
)

// ParsePoisonMode parses "stall" or "skip".
func ParsePoisonMode(s string) (PoisonMode, error) {
	switch m := PoisonMode(strings.ToLower(strings.TrimSpace(s))); m {
	case PoisonStall, PoisonSkip:
		return m, nil
	}
	return "", fmt.Errorf("%w: poison mode %q, want stall or skip", ErrInvalidConfig, s)
}

// Store is the Cassandra side the replicator writes: the original's ReplicatedCassandra.
// *cassandra.Store implements it (and ExpiryStore).
type Store interface {
	// Offset returns pointer2 of topic/partition; ok false when there is none.
	Offset(ctx context.Context, topic string, partition int32) (offset int64, ok bool, err error)
	// SavePointer2 records that every action of topic/partition up to offset is in Cassandra;
	// UpdatePointer2 does the same for a partition whose pointer2 row exists.
	SavePointer2(ctx context.Context, topic string, partition int32, offset int64, timestamp time.Time) error
	UpdatePointer2(ctx context.Context, topic string, partition int32, offset int64, timestamp time.Time) error
	// Head returns a journal's metajournal row.
	Head(ctx context.Context, key journal.Key) (cassandra.Head, bool, error)
	// AppendKnown, DeleteKnown and PurgeKnown apply one batch to a journal whose metajournal row
	// the caller knows, guarded by the journal's offset, and leave the row written in k.
	AppendKnown(ctx context.Context, key journal.Key, k *cassandra.Known, po journal.PartitionOffset, timestamp time.Time, expireAfter time.Duration, events []journal.EventRecord) (changed bool, err error)
	DeleteKnown(ctx context.Context, key journal.Key, k *cassandra.Known, po journal.PartitionOffset, timestamp time.Time, deleteTo journal.SeqNr, origin string) (changed bool, err error)
	PurgeKnown(ctx context.Context, key journal.Key, k *cassandra.Known, po journal.PartitionOffset, timestamp time.Time) (changed bool, err error)
}

// ExpiryStore is what the expiry job reads. A Store that also implements it gets the job.
type ExpiryStore interface {
	// Head returns a journal's metajournal row.
	Head(ctx context.Context, key journal.Key) (cassandra.Head, bool, error)
	// IDsExpiringOn yields the ids of topic's journals whose expire_on is date (UTC).
	IDsExpiringOn(ctx context.Context, topic string, date time.Time) iter.Seq2[string, error]
}

// Producer produces the Purge actions of the expiry job; *kafka.Log implements it.
type Producer interface {
	Produce(ctx context.Context, a journal.Action) (journal.PartitionOffset, error)
}

var (
	_ Store       = (*cassandra.Store)(nil)
	_ ExpiryStore = (*cassandra.Store)(nil)
	_ Producer    = (*kafka.Log)(nil)
)

// Config configures a Replicator. Kafka.Brokers and Store are required; the zero value of every
// other field means its default.
type Config struct {
	// Kafka holds the connection settings of the consumer groups: Brokers (required), ClientID
	// (default "replicator"), Version, Logger (default: Logger named "kafka"). Its producer settings
	// are not used.
	Kafka kafka.Config
	// Store is the Cassandra store written to. Required. When it implements ExpiryStore and
	// Producer is set, the expiry job runs.
	Store Store
	// Producer produces the expiry job's Purge actions. Default nil: no expiry job.
	Producer Producer

	// TopicPrefixes selects the topics to replicate: those starting with any of them. Default
	// ["journal"].
	TopicPrefixes []string
	// GroupPrefix names the consumer groups: GroupPrefix + "-" + topic. Default "replicator" (the
	// original's groups, replicator-<topic>).
	GroupPrefix string
	// DiscoveryInterval is how often the topics are listed to find new ones. Default 3 s.
	DiscoveryInterval time.Duration

	// MaxBatch bounds the records of one round of one partition (max.poll.records). Default 1000.
	MaxBatch int
	// KeyParallelism bounds the journals of one round written to Cassandra at the same time, per
	// partition. Default 256: a full round (1,000 records) of a partition with a few hundred busy
	// journals goes out in one wave; measured against 64 and 128 with P4's catch-up (~20% more
	// records/s). An instance owning many partitions may want less.
	KeyParallelism int
	// HeadCacheSize bounds the metajournal rows kept per partition (see the package doc, "Head
	// cache"). Default 10,000 (~2 MB); negative: no cache, every journal's row is read in every round.
	HeadCacheSize int
	// CommitInterval is how often the offsets marked after each round are committed to Kafka
	// (and when a partition is revoked or the replicator stops). Default 1 s; negative: commit
	// synchronously after every round.
	CommitInterval time.Duration
	// OnPoison is what happens to a record that cannot be decoded. Default PoisonStall.
	OnPoison PoisonMode

	// ExpiryInterval is how often the expiry job runs (on the replicator that owns partition 0 of
	// the topic). Default 1 h; negative disables the job.
	ExpiryInterval time.Duration
	// ExpiryLookbackDays is how many days before today the job's first run (after this
	// replicator got partition 0) looks for expired journals; later runs continue from the
	// previous run's date. Each day costs one query per metajournal segment (10,000). Default 1
	// (yesterday); raise it once to purge journals that expired while no job ran (say, rows a
	// Scala replicator wrote). Negative: today only.
	ExpiryLookbackDays int

	// InstanceID turns on Kafka static membership (see kafka.GroupConfig.InstanceID): a stable,
	// distinct id per replicator instance, such as a StatefulSet pod name. Default "": dynamic.
	InstanceID string
	// SessionTimeout is the consumer group session timeout. Default 10 s.
	SessionTimeout time.Duration

	// RetryMin and RetryMax bound the backoff between retries of a failed round (and of failed
	// connects and joins): it starts at RetryMin and doubles up to RetryMax, with jitter.
	// Defaults 100 ms and 30 s.
	RetryMin, RetryMax time.Duration
	// UnreadyAfter is how long a partition's round may keep failing (Cassandra down, say) before
	// /readyz reports not ready. A poison record in stall mode makes it not ready at once.
	// Default 1 min.
	UnreadyAfter time.Duration
	// ShutdownTimeout bounds the graceful shutdown after Run's context ends: finishing the rounds
	// in progress, committing, leaving the groups. After it, Cassandra writes in progress are
	// cancelled (they are idempotent; the next owner redoes them). Default 30 s.
	ShutdownTimeout time.Duration

	// HTTPAddr, when set, is where Run serves /healthz, /readyz and /metrics. Default "": none.
	HTTPAddr string
	// Origin is written into the expiry job's Purge actions. Default: the host name.
	Origin string
	// Logger receives the replicator's logs. Default: a null logger.
	Logger hclog.Logger
	// Registerer receives the kjournal_replicator_* metrics. Default nil: not registered.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves. Default: Registerer when it is a Gatherer (a
	// *prometheus.Registry), else nothing.
	Gatherer prometheus.Gatherer
	// Now is the clock of round timestamps and of the expiry job. Default time.Now.
	Now func() time.Time

	// consumers replaces the Kafka consumer groups in tests.
	consumers consumers
}

// The defaults of Config.KeyParallelism, HeadCacheSize and CommitInterval (and of the flags of
// `kjournal replicator`).
const (
	DefaultKeyParallelism = 256
	DefaultHeadCacheSize  = 10_000
	DefaultCommitInterval = time.Second
)

const (
	defaultDiscoveryInterval  = 3 * time.Second
	defaultExpiryInterval     = time.Hour
	defaultExpiryLookbackDays = 1
	defaultRetryMin           = 100 * time.Millisecond
	defaultRetryMax           = 30 * time.Second
	defaultUnreadyAfter       = time.Minute
	defaultShutdownTimeout    = 30 * time.Second
	defaultSessionTimeout     = 10 * time.Second
	defaultMaxBatch           = 1000
)

func (cfg Config) withDefaults() (Config, error) {
	c := cfg
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if c.Store == nil {
		return bad("no Store")
	}
	if len(c.Kafka.Brokers) == 0 && c.consumers == nil {
		return bad("no Kafka brokers")
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "replicator"
	}
	if c.Kafka.Logger == nil {
		c.Kafka.Logger = c.Logger.Named("kafka")
	}
	var prefixes []string
	for _, p := range c.TopicPrefixes {
		if p = strings.TrimSpace(p); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) == 0 {
		prefixes = []string{"journal"}
	}
	c.TopicPrefixes = prefixes
	if c.GroupPrefix == "" {
		c.GroupPrefix = "replicator"
	}
	dur := func(p *time.Duration, def time.Duration) {
		if *p == 0 {
			*p = def
		}
	}
	dur(&c.DiscoveryInterval, defaultDiscoveryInterval)
	dur(&c.ExpiryInterval, defaultExpiryInterval)
	dur(&c.SessionTimeout, defaultSessionTimeout)
	dur(&c.RetryMin, defaultRetryMin)
	dur(&c.RetryMax, defaultRetryMax)
	dur(&c.UnreadyAfter, defaultUnreadyAfter)
	dur(&c.ShutdownTimeout, defaultShutdownTimeout)
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultMaxBatch
	}
	if c.KeyParallelism == 0 {
		c.KeyParallelism = DefaultKeyParallelism
	}
	switch {
	case c.HeadCacheSize == 0:
		c.HeadCacheSize = DefaultHeadCacheSize
	case c.HeadCacheSize < 0:
		c.HeadCacheSize = 0
	}
	dur(&c.CommitInterval, DefaultCommitInterval)
	switch {
	case c.ExpiryLookbackDays == 0:
		c.ExpiryLookbackDays = defaultExpiryLookbackDays
	case c.ExpiryLookbackDays < 0:
		c.ExpiryLookbackDays = 0
	}
	if c.OnPoison == "" {
		c.OnPoison = PoisonStall
	}
	if c.Origin == "" {
		c.Origin, _ = os.Hostname()
	}
	if c.Gatherer == nil {
		if g, ok := c.Registerer.(prometheus.Gatherer); ok {
			c.Gatherer = g
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.OnPoison != PoisonStall && c.OnPoison != PoisonSkip:
		return bad("poison mode %q", c.OnPoison)
	case c.DiscoveryInterval < 0:
		return bad("negative discovery interval %v", c.DiscoveryInterval)
	case c.MaxBatch < 0 || c.KeyParallelism < 0:
		return bad("negative MaxBatch or KeyParallelism")
	case c.RetryMin < 0 || c.RetryMax < c.RetryMin:
		return bad("retry backoff %v..%v", c.RetryMin, c.RetryMax)
	case c.SessionTimeout < 0 || c.UnreadyAfter < 0 || c.ShutdownTimeout < 0:
		return bad("negative SessionTimeout, UnreadyAfter or ShutdownTimeout")
	}
	return c, nil
}

// expiryEnabled reports whether the expiry job can and should run.
func (c Config) expiryEnabled() bool {
	_, ok := c.Store.(ExpiryStore)
	return ok && c.Producer != nil && c.ExpiryInterval > 0
}
