package cassandra

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"
)

// Config configures the Cassandra store. The zero value of every field means its default; Open
// fills them in and validates the result.
type Config struct {
	// Hosts are the contact points, "host" or "host:port" (port 9042 when absent). Required.
	Hosts []string
	// Keyspace holds all tables. Default "journal".
	Keyspace string
	// Replication is used when the keyspace is created. Default SimpleStrategy with factor 1.
	Replication Replication
	// DisableKeyspaceAutoCreate stops Open from creating a missing keyspace and a missing locks
	// table (the original's keyspace.auto-create = false). Default false: they are created.
	DisableKeyspaceAutoCreate bool
	// DisableTableAutoCreate stops Open from creating missing journal, metajournal, pointer2 and
	// setting tables (the original's schema.auto-create = false). Default false: they are created.
	// Migrations of existing tables run either way.
	DisableTableAutoCreate bool
	// NoCreateSchema makes Open run no DDL and write nothing to the setting and locks tables: it
	// only checks that the keyspace holds the kjournal tables at SchemaVersion (or newer), waiting
	// up to StartTimeout for someone else (`kjournal schema`, the replicator) to create or migrate
	// them, and fails with ErrNoSchema otherwise. It needs nothing but SELECT on the keyspace. The
	// sidecar's default. Default false: Open sets the schema up as SetupSchema does.
	NoCreateSchema bool
	// Tables are the table names. Each empty name takes its default.
	Tables Tables
	// SegmentSize is the number of seqNrs per journal-table partition for journals created from
	// now on (existing journals keep theirs). Default DefaultSegmentSize (10000); at least
	// MinSegmentSize.
	SegmentSize int
	// ReadConsistency is set on every read statement. Default gocql.LocalQuorum. (gocql.Any, the
	// zero value, cannot be chosen; it is not valid for reads anyway.)
	ReadConsistency gocql.Consistency
	// WriteConsistency is set on every write statement. Default gocql.LocalQuorum.
	WriteConsistency gocql.Consistency
	// PageSize is the number of rows fetched per page when reading a journal or listing ids.
	// Default 1000 (the original's fetch-size).
	PageSize int
	// ConnectTimeout bounds establishing one connection. Default 10s.
	ConnectTimeout time.Duration
	// Timeout bounds one request to a node. Default 12s (the Java driver's read timeout).
	Timeout time.Duration
	// StartTimeout is how long Open keeps retrying to create the session while the nodes are
	// unreachable (for example still booting). Default 1m (the original's start-timeout).
	StartTimeout time.Duration
	// LockTimeout is how long schema setup waits for the locks-table lock. Default 1m.
	LockTimeout time.Duration
	// LockExpiry is the TTL of a held lock, so a crashed holder cannot block others forever.
	// Default 1m.
	LockExpiry time.Duration
	// LocalDC, when set, makes the driver prefer the hosts of that data centre. Default "": no
	// preference (token-aware round robin).
	LocalDC string
	// Username and Password enable password authentication when Username is set. Default: none.
	Username string
	Password string
	// Origin identifies this process in the setting table and in lock rows. Default: the host
	// name.
	Origin string
	// DisableSeqNrUniqueness turns off the read-side check that seqNrs strictly increase (the
	// original's data-integrity.seq-nr-uniqueness = false). Default false: a duplicated seqNr fails
	// the read with ErrDataIntegrity.
	DisableSeqNrUniqueness bool
	// CorrelateEventsWithMeta drops, instead of only logging, events whose meta_record_id does not
	// match their journal's metajournal record_id (data-integrity.correlate-events-with-meta).
	// Default false.
	CorrelateEventsWithMeta bool
	// Logger receives the store's logs. Default: a null logger.
	Logger hclog.Logger
}

// Tables names the tables in the keyspace. The legacy tables dropped by migrations 7 and 8
// ("metadata", "pointer") are not configurable, as in the original.
type Tables struct {
	Journal     string // default "journal"
	MetaJournal string // default "metajournal"
	Pointer2    string // default "pointer2"
	Setting     string // default "setting"
	Locks       string // default "locks"
	// Snapshot is the snapshot ring-buffer table; default "snapshot_buffer", the name of
	// kafka-journal's planned snapshot table.
	Snapshot string
	// Fence is the table of the conditional-append fence (journal.Fence); default "seqnr_fence".
	Fence string
}

// Replication is a keyspace replication strategy.
type Replication struct {
	// Class is "SimpleStrategy" or "NetworkTopologyStrategy". Default "SimpleStrategy".
	Class string
	// Factor is SimpleStrategy's replication factor. Default 1.
	Factor int
	// DCs maps data-centre name to replication factor for NetworkTopologyStrategy; required for
	// it, ignored otherwise.
	DCs map[string]int
}

const (
	// SimpleStrategy is the default replication class.
	SimpleStrategy = "SimpleStrategy"
	// NetworkTopologyStrategy replicates per data centre.
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// cql renders the replication map as scassandra's ReplicationStrategyConfig.toCql does, so the
// keyspace DDL reads the same as the original's.
func (r Replication) cql() string {
	if r.Class == NetworkTopologyStrategy {
		dcs := make([]string, 0, len(r.DCs))
		for dc := range r.DCs {
			dcs = append(dcs, dc)
		}
		sort.Strings(dcs)
		var b strings.Builder
		b.WriteString("'NetworkTopologyStrategy'")
		for _, dc := range dcs {
			fmt.Fprintf(&b, ",'%s':%d", dc, r.DCs[dc])
		}
		return b.String()
	}
	return "'SimpleStrategy','replication_factor':" + strconv.Itoa(r.Factor)
}

// ParseReplication parses "SimpleStrategy:3" (or "simple:3") and
// "NetworkTopologyStrategy:dc1=3,dc2=2" (or "networktopology:...") for command-line flags.
func ParseReplication(s string) (Replication, error) {
	class, rest, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch strings.ToLower(class) {
	case "simple", "simplestrategy":
		r := Replication{Class: SimpleStrategy, Factor: 1}
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 {
				return Replication{}, fmt.Errorf("%w: replication factor %q", ErrInvalidConfig, rest)
			}
			r.Factor = n
		}
		return r, nil
	case "networktopology", "networktopologystrategy":
		r := Replication{Class: NetworkTopologyStrategy, DCs: map[string]int{}}
		for _, kv := range strings.Split(rest, ",") {
			dc, f, ok := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(f)
			if !ok || dc == "" || err != nil || n < 0 {
				return Replication{}, fmt.Errorf("%w: data centre factor %q, want dc=N", ErrInvalidConfig, kv)
			}
			r.DCs[dc] = n
		}
		return r, nil
	}
	return Replication{}, fmt.Errorf("%w: replication class %q, want SimpleStrategy or NetworkTopologyStrategy", ErrInvalidConfig, class)
}

// identifier is what we accept as a keyspace, table or data-centre name: they are spliced into
// CQL text, so anything else is rejected rather than quoted.
var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

var dcName = regexp.MustCompile(`^[A-Za-z0-9_.\-]+$`)

// withDefaults returns cfg with every zero field set to its default, then validated.
func (cfg Config) withDefaults() (Config, error) {
	c := cfg
	if c.Keyspace == "" {
		c.Keyspace = "journal"
	}
	if c.Replication.Class == "" {
		c.Replication.Class = SimpleStrategy
	}
	if c.Replication.Class == SimpleStrategy && c.Replication.Factor == 0 {
		c.Replication.Factor = 1
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Tables.Journal, "journal")
	def(&c.Tables.MetaJournal, "metajournal")
	def(&c.Tables.Pointer2, "pointer2")
	def(&c.Tables.Setting, "setting")
	def(&c.Tables.Locks, "locks")
	def(&c.Tables.Snapshot, "snapshot_buffer")
	def(&c.Tables.Fence, "seqnr_fence")
	// Unquoted CQL identifiers are case-insensitive: Cassandra stores them lower-cased, and so
	// does system_schema, which schema setup reads.
	for _, p := range []*string{&c.Keyspace, &c.Tables.Journal, &c.Tables.MetaJournal, &c.Tables.Pointer2, &c.Tables.Setting, &c.Tables.Locks, &c.Tables.Snapshot, &c.Tables.Fence} {
		*p = strings.ToLower(*p)
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.ReadConsistency == gocql.Any {
		c.ReadConsistency = gocql.LocalQuorum
	}
	if c.WriteConsistency == gocql.Any {
		c.WriteConsistency = gocql.LocalQuorum
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	dur(&c.ConnectTimeout, 10*time.Second)
	dur(&c.Timeout, 12*time.Second)
	dur(&c.StartTimeout, time.Minute)
	dur(&c.LockTimeout, time.Minute)
	dur(&c.LockExpiry, time.Minute)
	if c.Origin == "" {
		if h, err := os.Hostname(); err == nil {
			c.Origin = h
		}
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	c.Hosts = nil
	for _, h := range cfg.Hosts {
		if h = strings.TrimSpace(h); h != "" {
			c.Hosts = append(c.Hosts, h)
		}
	}
	return c, c.validate()
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if len(c.Hosts) == 0 {
		return bad("no hosts")
	}
	if !identifier.MatchString(c.Keyspace) {
		return bad("keyspace %q is not a plain CQL identifier", c.Keyspace)
	}
	for _, t := range []string{c.Tables.Journal, c.Tables.MetaJournal, c.Tables.Pointer2, c.Tables.Setting, c.Tables.Locks, c.Tables.Snapshot, c.Tables.Fence} {
		if !identifier.MatchString(t) {
			return bad("table %q is not a plain CQL identifier", t)
		}
	}
	switch c.Replication.Class {
	case SimpleStrategy:
		if c.Replication.Factor < 1 {
			return bad("replication factor %d", c.Replication.Factor)
		}
	case NetworkTopologyStrategy:
		if len(c.Replication.DCs) == 0 {
			return bad("NetworkTopologyStrategy without data centres")
		}
		for dc, n := range c.Replication.DCs {
			if !dcName.MatchString(dc) || n < 0 {
				return bad("data centre %q factor %d", dc, n)
			}
		}
	default:
		return bad("replication class %q", c.Replication.Class)
	}
	if c.SegmentSize < MinSegmentSize || c.SegmentSize > math.MaxInt32 {
		return bad("segment size %d, must be in [%d, %d]", c.SegmentSize, MinSegmentSize, math.MaxInt32)
	}
	if c.PageSize < 1 {
		return bad("page size %d", c.PageSize)
	}
	for name, d := range map[string]time.Duration{
		"connect timeout": c.ConnectTimeout, "timeout": c.Timeout, "start timeout": c.StartTimeout,
		"lock timeout": c.LockTimeout, "lock expiry": c.LockExpiry,
	} {
		if d < 0 {
			return bad("negative %s %v", name, d)
		}
	}
	return nil
}
