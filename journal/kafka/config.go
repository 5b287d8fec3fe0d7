package kafka

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Log. The zero value of every field but Brokers means its default; New fills
// the defaults in and validates the result.
//
// The producer settings that make the journal safe are not configurable: acks=all, idempotence,
// the Java-compatible murmur2 partitioner, and at least 10 retries, as the original enforces them.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string

	// ClientID is the Kafka client id of every connection. Default "journal", as the original's.
	ClientID string

	// Version is the Kafka protocol version sarama speaks. Default sarama.V4_0_0_0. Kafka 4 removed
	// the protocols older than 2.1, so it must be at least sarama.V2_1_0_0, and it should not exceed
	// the brokers' version.
	Version sarama.KafkaVersion

	// Linger is how long the producer waits to gather concurrent appends into one produce request
	// (Java linger.ms). Default 0: send at once. Appends still share requests under load, since those
	// that arrive while the previous request to the broker is in flight (one at a time) go out
	// together in the next one; a linger only delays a lone append (1 ms made a sequential append
	// ~10× slower, and 64 concurrent appenders about half as fast: make bench, P1 and P2).
	Linger time.Duration

	// Retries is the fewest times the producer sends a batch before failing the appends in it: a
	// batch that fails with a retriable error (no leader, not enough replicas, a broken connection)
	// is resent, with the same producer id and sequence so that the broker writes it once, until it
	// has been sent Retries times and ProduceTimeout has passed since its first send. Default 10;
	// smaller values are raised to 10 (the original's floor).
	Retries int

	// ProduceTimeout bounds one Produce call when ctx has no earlier deadline: after it, Produce
	// returns an error wrapping journal.ErrKafkaUnavailable (the record may still land later, while
	// the producer retries it). Default 30 s.
	ProduceTimeout time.Duration

	// MaxMessageBytes is the largest record the producer sends, and the most record bytes it puts in
	// one partition's batch (Java max.request.size). Default 1 MiB.
	MaxMessageBytes int

	// BufferBytes bounds the record bytes the producer holds, queued or waiting for Kafka's
	// acknowledgement (Java buffer.memory): a Produce waits for room while it is full, until its
	// context or ProduceTimeout ends. Default 32 MiB.
	BufferBytes int

	// PoolSize bounds the consumers Scan uses at once; a Scan waits for a free one. Default
	// max(1, GOMAXPROCS × 10), as the original's consumer pool (cores × 10).
	PoolSize int

	// PoolIdleTimeout closes a pooled consumer unused for this long. Default 1 min.
	PoolIdleTimeout time.Duration

	// Logger receives warnings and debug messages. Default: a null logger.
	Logger hclog.Logger

	// Registerer is where the kjournal_kafka_* metrics are registered. Default: nil, no registration
	// (the metrics are still kept, see Log.ConsumersOpened).
	Registerer prometheus.Registerer
}

const (
	defaultClientID        = "journal"
	defaultLinger          = 0
	minRetries             = 10
	defaultProduceTimeout  = 30 * time.Second
	defaultMaxMessageBytes = 1 << 20
	defaultBufferBytes     = 32 << 20
	defaultPoolIdleTimeout = time.Minute

	// scanMaxWait is how long a scan's fetch waits at the broker for records not written yet. Scans
	// end at offsets that exist, so it matters only for a range beyond the end of the partition.
	scanMaxWait = 500 * time.Millisecond
	// defaultFetchSize is the bytes a scan asks for per fetch (sarama Consumer.Fetch.Default, Java
	// max.partition.fetch.bytes); maxFetchSize bounds its growth for larger record batches.
	defaultFetchSize = 1 << 20
	maxFetchSize     = 64 << 20
)

var minVersion = sarama.V2_1_0_0

// withDefaults returns cfg with the zero values replaced by defaults, or an error when a value is
// invalid.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Brokers) == 0 {
		return cfg, errors.New("kafka: config: no brokers")
	}
	cfg.Brokers = append([]string(nil), cfg.Brokers...)
	if cfg.ClientID == "" {
		cfg.ClientID = defaultClientID
	}
	if cfg.Version == (sarama.KafkaVersion{}) {
		cfg.Version = sarama.V4_0_0_0
	}
	if !cfg.Version.IsAtLeast(minVersion) {
		return cfg, fmt.Errorf("kafka: config: version %s is below %s, the oldest protocol Kafka 4 serves", cfg.Version, minVersion)
	}
	if cfg.Linger == 0 {
		cfg.Linger = defaultLinger
	}
	if cfg.Linger < 0 {
		return cfg, fmt.Errorf("kafka: config: negative linger %s", cfg.Linger)
	}
	cfg.Retries = max(cfg.Retries, minRetries)
	if cfg.ProduceTimeout == 0 {
		cfg.ProduceTimeout = defaultProduceTimeout
	}
	if cfg.ProduceTimeout < 0 {
		return cfg, fmt.Errorf("kafka: config: negative produce timeout %s", cfg.ProduceTimeout)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = defaultMaxMessageBytes
	}
	if cfg.MaxMessageBytes < 0 {
		return cfg, fmt.Errorf("kafka: config: negative max message bytes %d", cfg.MaxMessageBytes)
	}
	if cfg.BufferBytes == 0 {
		cfg.BufferBytes = defaultBufferBytes
	}
	if cfg.BufferBytes < 0 {
		return cfg, fmt.Errorf("kafka: config: negative buffer bytes %d", cfg.BufferBytes)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = max(1, runtime.GOMAXPROCS(0)*10)
	}
	if cfg.PoolSize < 0 {
		return cfg, fmt.Errorf("kafka: config: negative pool size %d", cfg.PoolSize)
	}
	if cfg.PoolIdleTimeout == 0 {
		cfg.PoolIdleTimeout = defaultPoolIdleTimeout
	}
	if cfg.PoolIdleTimeout < 0 {
		return cfg, fmt.Errorf("kafka: config: negative pool idle timeout %s", cfg.PoolIdleTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return cfg, nil
}

// base is the sarama configuration common to every client of a Log.
func (cfg Config) base() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = cfg.ClientID
	c.Version = cfg.Version
	// Fetch metadata only for the topics in use: a sidecar touches a handful of topics of a cluster
	// that may have thousands.
	c.Metadata.Full = false
	return c
}

// producerConfig is the configuration of the producer's client, which also answers Partitions.
func (cfg Config) producerConfig() *sarama.Config {
	c := cfg.base()
	// The producer (producer.go) is kjournal's own on this client's broker connections; it reads these.
	// It is idempotent itself (a producer id and per-partition sequences), so sarama's
	// Producer.Idempotent, which only its AsyncProducer implements, stays off.
	p := &c.Producer
	p.RequiredAcks = sarama.WaitForAll // an append is acknowledged only once it is on every in-sync replica
	p.Compression = sarama.CompressionLZ4
	// One request in flight per broker: the records that arrive meanwhile go out together in the next.
	c.Net.MaxOpenRequests = 1
	return c
}

// consumerConfig is the configuration of the clients of scan and follow consumers. They never share
// a client (and so a broker connection) with the producer: Kafka answers the requests of one
// connection in order, so a fetch that long-polls at the end of a partition would hold up the
// produce requests behind it.
func (cfg Config) consumerConfig() *sarama.Config {
	c := cfg.base()
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.AutoCommit.Enable = false
	return c
}

// fetchRequest is an empty Fetch request of a scan, of the version sarama's consumer would use.
func (cfg Config) fetchRequest() *sarama.FetchRequest {
	req := &sarama.FetchRequest{
		MinBytes:    1,
		MaxWaitTime: int32(scanMaxWait / time.Millisecond),
		MaxBytes:    maxFetchSize,
		Isolation:   sarama.ReadUncommitted, // as the original's consumers: every record is visible
		// No incremental fetch session (KIP-227): session 0, epoch -1.
		SessionID:    0,
		SessionEpoch: -1,
	}
	switch {
	case cfg.Version.IsAtLeast(sarama.V2_7_0_0):
		req.Version = 12
	case cfg.Version.IsAtLeast(sarama.V2_3_0_0):
		req.Version = 11
	default: // New enforces V2_1_0_0 at least
		req.Version = 10
	}
	return req
}
