package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/replicator"
)

func init() {
	commands["replicator"] = command{
		summary: "replicate journal actions from Kafka to Cassandra (and purge expired journals)",
		run: func(ctx context.Context, args []string) int {
			return runReplicator(ctx, args, os.Stderr)
		},
	}
}

const replicatorUsage = `usage: kjournal replicator [flags]

Replicates every topic whose name starts with one of --topic-prefixes from Kafka into the Cassandra
keyspace (created or migrated to schema version 8 first), one consumer group per topic
(<group-prefix>-<topic>), committing Kafka offsets only after Cassandra has the records. Purges
journals whose expire_after has passed (UTC dates), from the replicator that owns partition 0 of
the topic. Serves /healthz, /readyz and /metrics on --http-addr. SIGTERM or SIGINT: finish the
rounds in progress, commit, leave the groups, exit 0.

Flags take their defaults from the environment variables named in their descriptions.

flags:
`

func runReplicator(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("kafka-brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated Kafka bootstrap brokers, host:port (env KAFKA_BROKERS)")
	hosts := fs.String("cassandra-hosts", envOr("CASSANDRA_HOSTS", "127.0.0.1:9042"), "comma-separated Cassandra contact points, host[:port] (env CASSANDRA_HOSTS)")
	keyspace := fs.String("keyspace", envOr("KJOURNAL_KEYSPACE", "journal"), "Cassandra keyspace (env KJOURNAL_KEYSPACE)")
	replication := fs.String("replication", envOr("KJOURNAL_REPLICATION", "SimpleStrategy:1"), "replication of a keyspace created now: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,... (env KJOURNAL_REPLICATION)")
	localDC := fs.String("local-dc", os.Getenv("CASSANDRA_LOCAL_DC"), "prefer the Cassandra hosts of this data centre (env CASSANDRA_LOCAL_DC)")
	username := fs.String("cassandra-username", os.Getenv("CASSANDRA_USERNAME"), "Cassandra user for password authentication (env CASSANDRA_USERNAME; the password is read from env CASSANDRA_PASSWORD)")
	prefixes := fs.String("topic-prefixes", envOr("KJOURNAL_TOPIC_PREFIXES", "journal"), "comma-separated prefixes of the topics to replicate (env KJOURNAL_TOPIC_PREFIXES)")
	groupPrefix := fs.String("group-prefix", envOr("KJOURNAL_GROUP_PREFIX", "replicator"), "consumer groups are <group-prefix>-<topic> (env KJOURNAL_GROUP_PREFIX)")
	instanceID := fs.String("instance-id", os.Getenv("KJOURNAL_INSTANCE_ID"), "Kafka static membership id, stable and distinct per instance (a StatefulSet pod name); empty: dynamic membership (env KJOURNAL_INSTANCE_ID)")
	httpAddr := fs.String("http-addr", envOr("KJOURNAL_REPLICATOR_HTTP_ADDR", "127.0.0.1:9096"), "address of /healthz, /readyz and /metrics; empty: none (env KJOURNAL_REPLICATOR_HTTP_ADDR)")
	onPoison := fs.String("on-poison", envOr("KJOURNAL_ON_POISON", "stall"), "a record that cannot be decoded: stall (retry it, partition stops, not ready) or skip (log, count, go on) (env KJOURNAL_ON_POISON)")
	expiry := fs.Duration("expiry-interval", envDuration("KJOURNAL_EXPIRY_INTERVAL", time.Hour), "how often the expiry job purges expired journals; 0 disables it (env KJOURNAL_EXPIRY_INTERVAL)")
	lookback := fs.Int("expiry-lookback-days", 1, "days before today the expiry job's first run looks at (each costs 10,000 Cassandra queries per topic)")
	discovery := fs.Duration("discovery-interval", envDuration("KJOURNAL_DISCOVERY_INTERVAL", 3*time.Second), "how often topics are listed to find new ones (env KJOURNAL_DISCOVERY_INTERVAL)")
	sessionTimeout := fs.Duration("session-timeout", 10*time.Second, "Kafka consumer group session timeout (the broker accepts 6s..5m by default)")
	maxBatch := fs.Int("max-batch", 1000, "records per round of one partition at most (max.poll.records)")
	keyParallelism := fs.Int("key-parallelism", replicator.DefaultKeyParallelism, "journals of one round written to Cassandra at the same time")
	headCache := fs.Int("head-cache-size", replicator.DefaultHeadCacheSize, "metajournal rows kept per partition, so that a journal's next round reads none; 0: read every journal's row in every round")
	commitInterval := fs.Duration("commit-interval", replicator.DefaultCommitInterval, "how often the offsets of the rounds done are committed to Kafka (always after their rows and pointer2); 0: after every round, synchronously")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "time to finish the rounds in progress, commit and leave the groups after SIGTERM")
	noCreateSchema := fs.Bool("no-create-schema", false, "run no DDL: only check that the keyspace holds the kjournal schema, waiting up to --start-timeout for `kjournal schema` to create it (then the replicator needs only SELECT and MODIFY)")
	startTimeout := fs.Duration("start-timeout", time.Minute, "how long to keep retrying while Cassandra or Kafka is unreachable at start")
	origin := fs.String("origin", "", "origin written into the expiry job's purge actions (default: the host name)")
	logFormat := fs.String("log-format", envOr("KJOURNAL_LOG_FORMAT", "json"), "log format on stderr: json or text (env KJOURNAL_LOG_FORMAT)")
	logLevel := fs.String("log-level", envOr("KJOURNAL_LOG_LEVEL", "info"), "log level: trace, debug, info, warn, error, off (env KJOURNAL_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replicatorUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "kjournal replicator: "+msg)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q (see kjournal replicator --help)", fs.Arg(0))
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fail(2, "--log-level: unknown level %q", *logLevel)
	}
	if *logFormat != "json" && *logFormat != "text" {
		return fail(2, "--log-format: %q, want json or text", *logFormat)
	}
	poison, err := replicator.ParsePoisonMode(*onPoison)
	if err != nil {
		return fail(2, "--on-poison: %q, want stall or skip", *onPoison)
	}
	repl, err := cassandra.ParseReplication(*replication)
	if err != nil {
		return fail(2, "--replication: %v", err)
	}
	if *lookback == 0 {
		*lookback = -1 // the config's "today only"
	}
	if *expiry < 0 || *discovery <= 0 || *lookback < -1 || *maxBatch <= 0 || *keyParallelism <= 0 || *headCache < 0 || *commitInterval < 0 {
		return fail(2, "--expiry-interval, --expiry-lookback-days, --head-cache-size, --commit-interval must not be negative; --discovery-interval, --max-batch, --key-parallelism must be positive")
	}
	if *headCache == 0 {
		*headCache = -1 // the config's "no cache"
	}
	if *commitInterval == 0 {
		*commitInterval = -1 // the config's "after every round"
	}
	expiryInterval := *expiry
	if expiryInterval == 0 {
		expiryInterval = -1 // the config's "disabled"
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name: "kjournal-replicator", Level: level, Output: stderr, JSONFormat: *logFormat == "json",
		TimeFormat: time.RFC3339Nano,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	startCtx, cancel := context.WithTimeout(ctx, *startTimeout)
	defer cancel()
	store, err := cassandra.Open(startCtx, cassandra.Config{
		Hosts:          splitList(*hosts),
		Keyspace:       *keyspace,
		Replication:    repl,
		NoCreateSchema: *noCreateSchema,
		LocalDC:        *localDC,
		Username:       *username,
		Password:       os.Getenv("CASSANDRA_PASSWORD"),
		StartTimeout:   *startTimeout,
		Logger:         logger.Named("cassandra"),
	})
	if err != nil {
		return fail(1, "cassandra: %v%s", err, cassandraHint(err))
	}
	defer store.Close()

	kcfg := kafka.Config{Brokers: splitList(*brokers), ClientID: "replicator", Logger: logger.Named("kafka"), Registerer: reg}
	var producer replicator.Producer
	if expiryInterval > 0 {
		log, err := openKafka(startCtx, kcfg, logger)
		if err != nil {
			return fail(1, "kafka: %v", err)
		}
		defer log.Close()
		producer = log
	}
	r, err := replicator.New(replicator.Config{
		Kafka:              kcfg,
		Store:              store,
		Producer:           producer,
		TopicPrefixes:      splitList(*prefixes),
		GroupPrefix:        *groupPrefix,
		DiscoveryInterval:  *discovery,
		MaxBatch:           *maxBatch,
		KeyParallelism:     *keyParallelism,
		HeadCacheSize:      *headCache,
		CommitInterval:     *commitInterval,
		OnPoison:           poison,
		ExpiryInterval:     expiryInterval,
		ExpiryLookbackDays: *lookback,
		InstanceID:         *instanceID,
		SessionTimeout:     *sessionTimeout,
		ShutdownTimeout:    *shutdownTimeout,
		HTTPAddr:           *httpAddr,
		Origin:             *origin,
		Logger:             logger,
		Registerer:         reg,
	})
	if err != nil {
		return fail(2, "%v", err)
	}
	if err := r.Run(ctx); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}
