package cassandra

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"
)

// Store is the Cassandra side of kjournal: the read side the journal library uses (the original's
// EventualCassandra) and the write side the replicator uses (ReplicatedCassandra), over one gocql
// session. It is safe for concurrent use.
type Store struct {
	cfg     Config
	s       *gocql.Session
	log     hclog.Logger
	version int
	closed  atomic.Bool

	journal     string // keyspace.table
	metaJournal string
	pointer2    string
	snapshot    string
	fence       string

	snapLocks snapshotLocks
}

// Open connects to Cassandra (retrying until Config.StartTimeout while the nodes are
// unreachable), sets up the schema as SetupSchema does (with Config.NoCreateSchema: waits until
// Config.StartTimeout for it to be there), and returns the store. Close it when done. Refused
// credentials or permissions fail at once with ErrAuth.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := openSession(ctx, c)
	if err != nil {
		return nil, err
	}
	var v int
	if c.NoCreateSchema {
		v, err = awaitSchema(ctx, s, c)
	} else {
		v, err = setupSchema(ctx, s, c)
		if authError(err) {
			err = fmt.Errorf("%w: %w", ErrAuth, err)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	c.Logger.Info("cassandra store ready", "keyspace", c.Keyspace, "schema_version", v)
	return newStore(s, c, v), nil
}

func newStore(s *gocql.Session, c Config, version int) *Store {
	return &Store{
		cfg:         c,
		s:           s,
		log:         c.Logger,
		version:     version,
		journal:     c.Keyspace + "." + c.Tables.Journal,
		metaJournal: c.Keyspace + "." + c.Tables.MetaJournal,
		pointer2:    c.Keyspace + "." + c.Tables.Pointer2,
		snapshot:    c.Keyspace + "." + c.Tables.Snapshot,
		fence:       c.Keyspace + "." + c.Tables.Fence,
		snapLocks:   snapshotLocks{seed: maphash.MakeSeed()},
	}
}

// SchemaVersion returns the schema version found or reached when the store was opened.
func (st *Store) SchemaVersion() int { return st.version }

// Session returns the underlying gocql session, for tools and tests.
func (st *Store) Session() *gocql.Session { return st.s }

// Close closes the session. Calls made after Close fail with ErrClosed.
func (st *Store) Close() error {
	if st.closed.CompareAndSwap(false, true) {
		st.s.Close()
	}
	return nil
}

// OpenSession creates a gocql session for cfg (native protocol 4, the configured timeouts, page
// size, host policy and credentials, no keyspace), retrying until Config.StartTimeout while no
// node accepts connections. Open uses it; it is exported for tools that need a bare session.
func OpenSession(ctx context.Context, cfg Config) (*gocql.Session, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return openSession(ctx, c)
}

func openSession(ctx context.Context, c Config) (*gocql.Session, error) {
	cluster := gocql.NewCluster(c.Hosts...)
	// gocql v1.x speaks protocol 5 only in its pre-release beta form, which Cassandra 5 rejects.
	cluster.ProtoVersion = 4
	cluster.ConnectTimeout = c.ConnectTimeout
	cluster.Timeout = c.Timeout
	cluster.Consistency = c.ReadConsistency
	cluster.PageSize = c.PageSize
	cluster.DefaultIdempotence = true // as the original's client config
	cluster.Logger = gocqlLogger{c.Logger.Named("gocql")}
	if c.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}

	deadline := time.Now().Add(c.StartTimeout)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// A policy belongs to one session: a new one per attempt.
		if c.LocalDC != "" {
			cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(c.LocalDC))
		} else {
			cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
		}
		s, err := cluster.CreateSession()
		if err == nil {
			return s, nil
		}
		if authError(err) {
			return nil, fmt.Errorf("%w: %w to %s as user %q: %w", ErrAuth, ErrConnect, strings.Join(c.Hosts, ","), c.Username, err)
		}
		if time.Now().Add(backoff).After(deadline) {
			return nil, fmt.Errorf("%w to %s after %d attempts: %w", ErrConnect, strings.Join(c.Hosts, ","), attempt, err)
		}
		c.Logger.Info("cassandra not reachable yet, retrying", "hosts", c.Hosts, "in", backoff, "error", err)
		if err := sleep(ctx, backoff); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConnect, err)
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// gocqlLogger sends gocql's own log lines to hclog at debug level; they are about reconnects and
// topology events that the store's callers see as errors anyway.
type gocqlLogger struct{ l hclog.Logger }

func (g gocqlLogger) Print(v ...any) { g.l.Debug(strings.TrimSpace(fmt.Sprint(v...))) }
func (g gocqlLogger) Printf(format string, v ...any) {
	g.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (g gocqlLogger) Println(v ...any) { g.l.Debug(strings.TrimSpace(fmt.Sprintln(v...))) }
