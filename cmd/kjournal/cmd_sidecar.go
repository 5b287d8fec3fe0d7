package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/sidecar"
)

func init() {
	commands["sidecar"] = command{
		summary: "serve the journal to the pod's applications on a Unix socket",
		run: func(ctx context.Context, args []string) int {
			return runSidecar(ctx, args, os.Stderr)
		},
	}
}

const sidecarUsage = `usage: kjournal sidecar [flags]

Serves journals to the applications of its pod over the Unix socket protocol (protocol/PROTOCOL.md),
with Kafka as the journal and Cassandra as the long-term store, and /healthz, /readyz and /metrics over
HTTP. Every flag can also be set by the environment variable named in its description; a flag given on
the command line wins. SIGTERM shuts down gracefully: in-flight appends finish, streams end with
SHUTTING_DOWN, the producer is flushed.

flags:
`

// sidecarFlagEnv pairs flags with the environment variables that set them when the flag is absent.
var sidecarFlagEnv = [][2]string{
	{"socket", "KJOURNAL_SOCKET"},
	{"socket-mode", "KJOURNAL_SOCKET_MODE"},
	{"kafka-brokers", "KAFKA_BROKERS"},
	{"cassandra-hosts", "CASSANDRA_HOSTS"},
	{"cassandra-username", "CASSANDRA_USERNAME"},
	{"local-dc", "CASSANDRA_LOCAL_DC"},
	{"keyspace", "KJOURNAL_KEYSPACE"},
	{"no-create-schema", "KJOURNAL_NO_CREATE_SCHEMA"},
	{"topic", "KJOURNAL_TOPIC"},
	{"allowed-topics", "KJOURNAL_ALLOWED_TOPICS"},
	{"allowed-uids", "KJOURNAL_ALLOWED_UIDS"},
	{"http-addr", "KJOURNAL_HTTP_ADDR"},
	{"pprof", "KJOURNAL_PPROF"},
	{"head-cache", "KJOURNAL_HEAD_CACHE"},
	{"fence", "KJOURNAL_FENCE"},
	{"max-connections", "KJOURNAL_MAX_CONNECTIONS"},
	{"max-in-flight", "KJOURNAL_MAX_IN_FLIGHT"},
	{"max-frame-bytes", "KJOURNAL_MAX_FRAME_BYTES"},
	{"request-timeout", "KJOURNAL_REQUEST_TIMEOUT"},
	{"marker-timeout", "KJOURNAL_MARKER_TIMEOUT"},
	{"shutdown-grace", "KJOURNAL_SHUTDOWN_GRACE"},
	{"start-timeout", "KJOURNAL_START_TIMEOUT"},
	{"log-format", "KJOURNAL_LOG_FORMAT"},
	{"log-level", "KJOURNAL_LOG_LEVEL"},
}

type sidecarFlags struct {
	socket         string
	socketMode     fileMode
	brokers        string
	hosts          string
	username       string
	localDC        string
	keyspace       string
	noCreateSchema bool
	topic          string
	allowedTopics  string
	allowedUIDs    string
	httpAddr       string
	headCache      bool
	fence          bool
	pprof          bool
	maxConnections int
	maxInFlight    int
	maxFrameBytes  int
	requestTimeout time.Duration
	markerTimeout  time.Duration
	shutdownGrace  time.Duration
	startTimeout   time.Duration
	logFormat      string
	logLevel       string
}

func sidecarFlagSet(stderr io.Writer) (*flag.FlagSet, *sidecarFlags) {
	f := &sidecarFlags{socketMode: fileMode(sidecar.DefaultSocketMode)}
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.socket, "socket", sidecar.DefaultSocketPath, "Unix socket path (env KJOURNAL_SOCKET)")
	fs.Var(&f.socketMode, "socket-mode", "permissions of the socket file, octal (env KJOURNAL_SOCKET_MODE) (default 0660)")
	fs.StringVar(&f.brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers, host:port (env KAFKA_BROKERS)")
	fs.StringVar(&f.hosts, "cassandra-hosts", "127.0.0.1:9042", "comma-separated Cassandra contact points, host[:port] (env CASSANDRA_HOSTS)")
	fs.StringVar(&f.username, "cassandra-username", "", "Cassandra user for password authentication; the password is read from env CASSANDRA_PASSWORD (env CASSANDRA_USERNAME)")
	fs.StringVar(&f.localDC, "local-dc", "", "prefer the Cassandra hosts of this data centre (env CASSANDRA_LOCAL_DC)")
	fs.StringVar(&f.keyspace, "keyspace", "journal", "Cassandra keyspace (env KJOURNAL_KEYSPACE)")
	fs.BoolVar(&f.noCreateSchema, "no-create-schema", true, "run no DDL: only check that the keyspace holds the kjournal schema (v"+strconv.Itoa(cassandra.SchemaVersion)+"), waiting up to --start-timeout for `kjournal schema` or the replicator to create it; needs only SELECT. false: create and migrate it as the replicator does (env KJOURNAL_NO_CREATE_SCHEMA)")
	fs.StringVar(&f.topic, "topic", sidecar.DefaultTopic, "default Kafka topic of requests without one (env KJOURNAL_TOPIC)")
	fs.StringVar(&f.allowedTopics, "allowed-topics", "", "comma-separated topics this sidecar serves; empty: any (env KJOURNAL_ALLOWED_TOPICS)")
	fs.StringVar(&f.allowedUIDs, "allowed-uids", "", "comma-separated peer user ids allowed to connect (SO_PEERCRED); empty: any (env KJOURNAL_ALLOWED_UIDS)")
	fs.StringVar(&f.httpAddr, "http-addr", sidecar.DefaultHTTPAddr, `address of /healthz, /readyz and /metrics; "-" for none (env KJOURNAL_HTTP_ADDR)`)
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on --http-addr (env KJOURNAL_PPROF)")
	fs.BoolVar(&f.headCache, "head-cache", true, "share one Kafka consumer per topic among reads (env KJOURNAL_HEAD_CACHE)")
	fs.BoolVar(&f.fence, "fence", false, "make appends with expected_seq_nr exact across sidecars with a Cassandra LWT per conditional append (table seqnr_fence; needs MODIFY on it) (env KJOURNAL_FENCE)")
	fs.IntVar(&f.maxConnections, "max-connections", sidecar.DefaultMaxConnections, "most client connections at once (env KJOURNAL_MAX_CONNECTIONS)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", sidecar.DefaultMaxInFlight, "most requests in flight per connection, read streams included (env KJOURNAL_MAX_IN_FLIGHT)")
	fs.IntVar(&f.maxFrameBytes, "max-frame-bytes", sidecar.DefaultMaxFrameBytes, "largest frame body accepted and sent (env KJOURNAL_MAX_FRAME_BYTES)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", sidecar.DefaultTimeout, "deadline of requests without timeout_ms (env KJOURNAL_REQUEST_TIMEOUT)")
	fs.DurationVar(&f.markerTimeout, "marker-timeout", 10*time.Second, "how long a read, pointer or delete waits for its Mark (env KJOURNAL_MARKER_TIMEOUT)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", sidecar.DefaultShutdownGrace, "how long in-flight requests may finish after SIGTERM (env KJOURNAL_SHUTDOWN_GRACE)")
	fs.DurationVar(&f.startTimeout, "start-timeout", time.Minute, "how long to keep retrying while Kafka or Cassandra is unreachable at start (env KJOURNAL_START_TIMEOUT)")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format on stderr: json or text (env KJOURNAL_LOG_FORMAT)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error, off (env KJOURNAL_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sidecarUsage)
		fs.PrintDefaults()
	}
	return fs, f
}

// applyEnv sets every flag absent from the command line from its environment variable, when set.
func applyEnv(fs *flag.FlagSet, pairs [][2]string, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, p := range pairs {
		if given[p[0]] {
			continue
		}
		if v := strings.TrimSpace(getenv(p[1])); v != "" {
			if err := fs.Set(p[0], v); err != nil {
				return fmt.Errorf("%s=%q (for --%s): %v", p[1], v, p[0], err)
			}
		}
	}
	return nil
}

// fileMode is a flag.Value of permission bits in octal.
type fileMode os.FileMode

func (m *fileMode) String() string { return fmt.Sprintf("%#o", uint32(*m)) }
func (m *fileMode) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v == 0 || v&^0o777 != 0 {
		return fmt.Errorf("want octal permissions such as 0660")
	}
	*m = fileMode(v)
	return nil
}

func runSidecar(ctx context.Context, args []string, stderr io.Writer) int {
	fs, f := sidecarFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "kjournal sidecar: "+msg)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q (see kjournal sidecar --help)", fs.Arg(0))
	}
	if err := applyEnv(fs, sidecarFlagEnv, os.Getenv); err != nil {
		return fail(2, "%v", err)
	}
	cfg, err := f.config()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fail(2, "%v", err)
	}
	logger, err := newLogger(f.logFormat, f.logLevel, stderr)
	if err != nil {
		return fail(2, "%v", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	startCtx, cancelStart := context.WithTimeout(ctx, f.startTimeout)
	defer cancelStart()
	kcfg := kafka.Config{Brokers: splitList(f.brokers), Logger: logger.Named("kafka"), Registerer: reg}
	log, err := openKafka(startCtx, kcfg, logger)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer func() {
		if err := log.Close(); err != nil { // flushes the producer
			logger.Error("closing kafka", "error", err)
		}
	}()
	ccfg := cassandra.Config{
		Hosts:          splitList(f.hosts),
		Keyspace:       f.keyspace,
		NoCreateSchema: f.noCreateSchema,
		LocalDC:        f.localDC,
		Username:       f.username,
		Password:       os.Getenv("CASSANDRA_PASSWORD"),
		StartTimeout:   f.startTimeout,
		Logger:         logger.Named("cassandra"),
	}
	store, err := cassandra.Open(startCtx, ccfg)
	if err != nil {
		return fail(1, "%v%s", err, cassandraHint(err))
	}
	defer store.Close()
	cancelStart()

	js, err := journal.New(journal.Config{
		Log:           log,
		Eventual:      store,
		MarkerTimeout: f.markerTimeout,
		HeadCache:     journal.HeadCacheConfig{Disabled: !f.headCache},
		Fence:         fence(f.fence, store),
		Logger:        logger.Named("journal"),
		Registerer:    reg,
	})
	if err != nil {
		return fail(1, "%v", err)
	}
	defer js.Close(context.Background())

	cfg.Journals = js
	cfg.Snapshots = store
	cfg.Ready = readiness(kcfg.Brokers, store)
	cfg.Logger = logger.Named("sidecar")
	cfg.Registerer = reg
	srv, err := sidecar.New(cfg)
	if err != nil {
		return fail(2, "%v", err)
	}
	if err := srv.Run(ctx); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}

// config is the sidecar.Config of the flags, without the parts main builds (Journals, Ready, ...).
func (f *sidecarFlags) config() (sidecar.Config, error) {
	cfg := sidecar.Config{
		SocketPath:     f.socket,
		SocketMode:     os.FileMode(f.socketMode),
		DefaultTopic:   f.topic,
		AllowedTopics:  splitList(f.allowedTopics),
		MaxConnections: f.maxConnections,
		MaxInFlight:    f.maxInFlight,
		MaxFrameBytes:  f.maxFrameBytes,
		DefaultTimeout: f.requestTimeout,
		ShutdownGrace:  f.shutdownGrace,
		HTTPAddr:       f.httpAddr,
		Pprof:          f.pprof,
	}
	for _, s := range splitList(f.allowedUIDs) {
		uid, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return cfg, fmt.Errorf("--allowed-uids: %q is not a user id", s)
		}
		cfg.AllowedUIDs = append(cfg.AllowedUIDs, uint32(uid))
	}
	if f.socket == "" {
		return cfg, errors.New("--socket: empty path")
	}
	if len(splitList(f.brokers)) == 0 {
		return cfg, errors.New("--kafka-brokers: none given")
	}
	if len(splitList(f.hosts)) == 0 {
		return cfg, errors.New("--cassandra-hosts: none given")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--request-timeout", f.requestTimeout}, {"--marker-timeout", f.markerTimeout}, {"--shutdown-grace", f.shutdownGrace}, {"--start-timeout", f.startTimeout}} {
		if d.v <= 0 {
			return cfg, fmt.Errorf("%s: must be positive, got %s", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"--max-connections", f.maxConnections}, {"--max-in-flight", f.maxInFlight}, {"--max-frame-bytes", f.maxFrameBytes}} {
		if n.v <= 0 {
			return cfg, fmt.Errorf("%s: must be positive, got %d", n.name, n.v)
		}
	}
	return cfg, nil
}

// readiness reports whether a Kafka broker accepts connections and Cassandra answers a query.
func readiness(brokers []string, store *cassandra.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		var kerr error
		for _, b := range brokers {
			c, err := d.DialContext(ctx, "tcp", b)
			if err == nil {
				_ = c.Close()
				kerr = nil
				break
			}
			kerr = err
		}
		if kerr != nil {
			return fmt.Errorf("kafka: %w", kerr)
		}
		if err := store.Session().Query("SELECT release_version FROM system.local").WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("cassandra: %w", err)
		}
		return nil
	}
}

// fence is the store as the journal's conditional-append fence when on, else none.
func fence(on bool, store *cassandra.Store) journal.Fence {
	if !on {
		return nil
	}
	return store
}
