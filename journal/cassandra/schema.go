package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// SchemaVersion is the schema version this package creates and migrates to: the index of the last
// migration, stored in the setting table under SchemaVersionKey (the original's SetupSchema).
const SchemaVersion = 8

// SchemaVersionKey is the setting-table key of the schema version.
const SchemaVersionKey = "schema-version"

// The DDL below is the original's text (JournalStatements, MetaJournalStatements,
// Pointer2Statements, SettingStatements, cassandra-sync, scassandra), table names spliced in the
// same places, so a keyspace created by either implementation is the same keyspace.

func createKeyspaceCQL(keyspace string, r Replication) string {
	return "CREATE KEYSPACE IF NOT EXISTS " + keyspace + " WITH REPLICATION = { 'class' : " + r.cql() + " }"
}

func createJournalCQL(table string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + table + ` (
id TEXT,
topic TEXT,
segment BIGINT,
seq_nr BIGINT,
partition INT,
offset BIGINT,
timestamp TIMESTAMP,
origin TEXT,
version TEXT,
meta_record_id UUID,
tags SET<TEXT>,
metadata TEXT,
payload_type TEXT,
payload_txt TEXT,
payload_bin BLOB,
headers MAP<TEXT, TEXT>,
PRIMARY KEY ((id, topic, segment), seq_nr, timestamp))
`
}

// createMetaJournalCQL returns the table and its two secondary indexes; name is the unqualified
// table name the index names derive from.
func createMetaJournalCQL(table, name string) []string {
	return []string{`
CREATE TABLE IF NOT EXISTS ` + table + ` (
id TEXT,
topic TEXT,
segment BIGINT,
partition INT,
offset BIGINT,
segment_size INT,
seq_nr BIGINT,
delete_to BIGINT,
created TIMESTAMP,
created_date DATE,
updated TIMESTAMP,
expire_after DURATION,
expire_on DATE,
record_id UUID,
origin TEXT,
properties MAP<TEXT,TEXT>,
metadata TEXT,
PRIMARY KEY ((topic, segment), id))
`, `
CREATE INDEX IF NOT EXISTS ` + name + `_created_date_idx ON ` + table + ` (created_date)
`, `
CREATE INDEX IF NOT EXISTS ` + name + `_expire_on_idx ON ` + table + ` (expire_on)
`}
}

func createPointer2CQL(table string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + table + ` (
topic text,
partition int,
offset bigint,
created timestamp,
updated timestamp,
PRIMARY KEY ((topic, partition)))
`
}

func createSettingCQL(table string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + table + ` (
key text PRIMARY KEY,
value TEXT,
timestamp TIMESTAMP,
origin TEXT,
metadata TEXT)
`
}

func createLocksCQL(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + " (" +
		"id text PRIMARY KEY, " +
		"expiry_ms BIGINT, " +
		"timestamp TIMESTAMP," +
		"metadata TEXT)"
}

// migrations are the original's SetupSchema.migrations, in order; applying migrations[i] takes
// the schema to version i. Steps 2 and 6 are unqualified in the original and fail there (and
// here) with "No keyspace has been specified", which is why 7 and 8 repeat them qualified.
func migrations(c Config) []string {
	ks := c.Keyspace
	return []string{
		"ALTER TABLE " + ks + "." + c.Tables.Journal + " ADD headers map<text, text>",
		"ALTER TABLE " + ks + "." + c.Tables.Journal + " ADD version TEXT",
		"DROP TABLE IF EXISTS metadata",
		createPointer2CQL(ks + "." + c.Tables.Pointer2),
		"ALTER TABLE " + ks + "." + c.Tables.Journal + " ADD meta_record_id UUID",
		"ALTER TABLE " + ks + "." + c.Tables.MetaJournal + " ADD record_id UUID",
		"DROP TABLE IF EXISTS pointer",
		"DROP TABLE IF EXISTS " + ks + ".metadata",
		"DROP TABLE IF EXISTS " + ks + ".pointer",
	}
}

// migrationPlan decides what schema setup does given the stored version (known = a parsable
// setting exists) and whether every table was created just now (fresh): run the migrations from
// index first on (first == SchemaVersion+1: none), or only record SchemaVersion.
//
// As in the original: no setting and fresh tables → record the latest version; no setting and
// tables that existed → run every migration; a stored version → run those after it; a version
// higher than we know → nothing.
func migrationPlan(version int, known, fresh bool) (first int, recordOnly bool) {
	switch {
	case !known && fresh:
		return SchemaVersion + 1, true
	case !known:
		return 0, false
	case version < -1:
		return 0, false
	}
	return min(version+1, SchemaVersion+1), false
}

// toleratedMigrationError reports whether err says a migration step had been applied before (or
// cannot apply because its object is gone): such errors are expected when the step ran before the
// version was saved, or when the tables were created in their current shape. Other errors (time
// outs, unavailable nodes) stop the migration without saving the version, so the next setup
// retries the step; the original ignores every error instead.
func toleratedMigrationError(err error) bool {
	var exists *gocql.RequestErrAlreadyExists
	if errors.As(err, &exists) {
		return true
	}
	var re gocql.RequestError
	if !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
		return false
	}
	msg := strings.ToLower(re.Message())
	for _, s := range []string{"already exists", "doesn't exist", "does not exist", "no keyspace has been specified", "unconfigured table"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// schemaSetup runs the original's SetupSchema: create the keyspace, create missing tables under
// the lock, then migrate.
type schemaSetup struct {
	s   *gocql.Session
	cfg Config
	log hclog.Logger
}

// SetupSchema creates the keyspace and tables that are missing (as Config allows) and migrates
// an existing schema to SchemaVersion, holding the locks-table lock for every DDL statement so a
// Scala kafka-journal node and this package never change the schema at the same time. It returns
// the schema version afterwards: SchemaVersion, or a higher version written by a newer
// implementation, which is left alone. It is idempotent and cheap when nothing is to be done
// (three reads, no lock).
func SetupSchema(ctx context.Context, session *gocql.Session, cfg Config) (int, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return 0, err
	}
	return setupSchema(ctx, session, c)
}

func setupSchema(ctx context.Context, session *gocql.Session, c Config) (int, error) {
	sc := &schemaSetup{s: session, cfg: c, log: c.Logger.Named("schema")}
	if err := sc.createKeyspace(ctx); err != nil {
		return 0, err
	}
	fresh, err := sc.createTables(ctx)
	if err != nil {
		return 0, err
	}
	v, err := sc.migrate(ctx, fresh)
	if err != nil {
		return 0, err
	}
	sc.log.Debug("schema ready", "keyspace", c.Keyspace, "version", v, "fresh", fresh)
	return v, nil
}

// awaitSchema is Open's part under Config.NoCreateSchema: checkSchema until it passes, retrying a
// missing schema (the replicator may be creating it right now) and unavailable nodes until
// Config.StartTimeout; refused permissions end it at once.
func awaitSchema(ctx context.Context, s *gocql.Session, c Config) (int, error) {
	deadline := time.Now().Add(c.StartTimeout)
	backoff := 250 * time.Millisecond
	for {
		v, err := checkSchema(ctx, s, c)
		if err == nil || errors.Is(err, ErrAuth) || !(errors.Is(err, ErrNoSchema) || errors.Is(err, journal.ErrCassandraUnavailable)) {
			return v, err
		}
		if time.Now().Add(backoff).After(deadline) {
			return 0, err
		}
		c.Logger.Info("kjournal schema not ready yet, retrying", "keyspace", c.Keyspace, "in", backoff, "error", err)
		if err := sleep(ctx, backoff); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrNoSchema, err)
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// checkSchema reads, and changes nothing: the keyspace and the journal, metajournal, pointer2 and
// setting tables must exist and the stored schema version must be SchemaVersion or newer.
func checkSchema(ctx context.Context, s *gocql.Session, c Config) (int, error) {
	sc := &schemaSetup{s: s, cfg: c, log: c.Logger.Named("schema")}
	missing := func(format string, args ...any) error {
		return fmt.Errorf("%w: keyspace %s "+format+": run `kjournal schema` or start the replicator, which create and migrate it",
			append([]any{ErrNoSchema, c.Keyspace}, args...)...)
	}
	failed := func(op string, err error) error {
		if authError(err) {
			return fmt.Errorf("%w: %s: %w", ErrAuth, op, err)
		}
		return wrapErr(op, err)
	}
	ok, err := sc.keyspaceExists(ctx)
	if err != nil {
		return 0, failed("read keyspace "+c.Keyspace, err)
	}
	if !ok {
		return 0, missing("does not exist")
	}
	have, err := tables(ctx, s, c.Keyspace)
	if err != nil {
		return 0, failed("read tables of "+c.Keyspace, err)
	}
	for _, t := range []string{c.Tables.Journal, c.Tables.MetaJournal, c.Tables.Pointer2, c.Tables.Setting} {
		if !have[t] {
			return 0, missing("has no kjournal schema (no table %s)", t)
		}
	}
	v, known, err := sc.version(ctx)
	if err != nil {
		return 0, failed("read schema version", err)
	}
	if !known {
		return 0, missing("has no kjournal schema version in table %s", c.Tables.Setting)
	}
	if v < SchemaVersion {
		return 0, missing("has schema version %d, this kjournal needs %d", v, SchemaVersion)
	}
	return v, nil
}

func (sc *schemaSetup) lock() *lock {
	return &lock{
		s:        sc.s,
		keyspace: sc.cfg.Keyspace,
		table:    sc.cfg.Tables.Locks,
		create:   !sc.cfg.DisableKeyspaceAutoCreate,
		expiry:   sc.cfg.LockExpiry,
		timeout:  sc.cfg.LockTimeout,
		origin:   sc.cfg.Origin,
		cons:     sc.cfg.WriteConsistency,
		log:      sc.log,
	}
}

func (sc *schemaSetup) exec(ctx context.Context, stmt string) error {
	return sc.s.Query(stmt).WithContext(ctx).Consistency(sc.cfg.WriteConsistency).Exec()
}

func (sc *schemaSetup) keyspaceExists(ctx context.Context) (bool, error) {
	var name string
	err := sc.s.Query(`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, sc.cfg.Keyspace).
		WithContext(ctx).Consistency(gocql.One).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// tables returns the tables of the keyspace.
func tables(ctx context.Context, s *gocql.Session, keyspace string) (map[string]bool, error) {
	iter := s.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, keyspace).
		WithContext(ctx).Consistency(gocql.One).Iter()
	m := map[string]bool{}
	var name string
	for iter.Scan(&name) {
		m[name] = true
	}
	return m, iter.Close()
}

func (sc *schemaSetup) createKeyspace(ctx context.Context) error {
	ok, err := sc.keyspaceExists(ctx)
	if err != nil {
		return fmt.Errorf("read keyspace %s: %w", sc.cfg.Keyspace, err)
	}
	if ok {
		return nil
	}
	if sc.cfg.DisableKeyspaceAutoCreate {
		return fmt.Errorf("%w: keyspace %s does not exist and auto-create is disabled", ErrSchema, sc.cfg.Keyspace)
	}
	sc.log.Info("creating keyspace", "keyspace", sc.cfg.Keyspace, "replication", sc.cfg.Replication.cql())
	if err := sc.exec(ctx, createKeyspaceCQL(sc.cfg.Keyspace, sc.cfg.Replication)); err != nil {
		var exists *gocql.RequestErrAlreadyExists
		if !errors.As(err, &exists) {
			return fmt.Errorf("create keyspace %s: %w", sc.cfg.Keyspace, err)
		}
	}
	return nil
}

// createTables creates the missing tables of journal, pointer2, setting, metajournal (the
// original's order), then kjournal's own snapshot and fence tables, under one hold of the lock, and
// reports whether all the original's tables were missing. kjournal's tables play no part in "fresh"
// or the schema version; and a role without the permission to create them (a least-privilege
// replicator upgraded from a version without them) only logs a warning: journals work without them,
// snapshot and fenced requests fail until `kjournal schema` creates them.
func (sc *schemaSetup) createTables(ctx context.Context) (fresh bool, err error) {
	if sc.cfg.DisableTableAutoCreate {
		return false, nil
	}
	ks, t := sc.cfg.Keyspace, sc.cfg.Tables
	all := []struct {
		name  string
		stmts []string
		own   bool // kjournal's, not the original's
	}{
		{t.Journal, []string{createJournalCQL(ks + "." + t.Journal)}, false},
		{t.Pointer2, []string{createPointer2CQL(ks + "." + t.Pointer2)}, false},
		{t.Setting, []string{createSettingCQL(ks + "." + t.Setting)}, false},
		{t.MetaJournal, createMetaJournalCQL(ks+"."+t.MetaJournal, t.MetaJournal), false},
		{t.Snapshot, []string{createSnapshotCQL(ks + "." + t.Snapshot)}, true},
		{t.Fence, []string{createFenceCQL(ks + "." + t.Fence)}, true},
	}
	have, err := tables(ctx, sc.s, ks)
	if err != nil {
		return false, fmt.Errorf("read tables of %s: %w", ks, err)
	}
	var missing []string
	var stmts []string
	own := map[string]bool{}
	seen := map[string]bool{}
	core := 0
	for _, tb := range all {
		if have[tb.name] || seen[tb.name] {
			continue
		}
		seen[tb.name] = true
		missing = append(missing, tb.name)
		stmts = append(stmts, tb.stmts...)
		if tb.own {
			for _, st := range tb.stmts {
				own[st] = true
			}
		} else {
			core++
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	fresh = core == distinct(t.Journal, t.Pointer2, t.Setting, t.MetaJournal)
	sc.log.Info("creating tables", "keyspace", ks, "tables", strings.Join(missing, ","), "fresh", fresh)
	err = sc.lock().with(ctx, func(ctx context.Context) error {
		for _, stmt := range stmts {
			err := sc.exec(ctx, stmt)
			if err != nil && own[stmt] && authError(err) {
				sc.log.Warn("cannot create table: snapshots or fenced appends are unavailable until `kjournal schema` creates it",
					"statement", firstLine(stmt), "error", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrSchema, firstLine(stmt), err)
			}
		}
		return nil
	})
	return fresh, err
}

func distinct(names ...string) int {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return len(m)
}

func firstLine(stmt string) string {
	stmt = strings.TrimSpace(stmt)
	if i := strings.IndexByte(stmt, '\n'); i >= 0 {
		return stmt[:i] + " ..."
	}
	return stmt
}

// version reads the stored schema version.
func (sc *schemaSetup) version(ctx context.Context) (v int, known bool, err error) {
	var value string
	err = sc.s.Query(`SELECT value FROM `+sc.cfg.Keyspace+`.`+sc.cfg.Tables.Setting+` WHERE key = ?`, SchemaVersionKey).
		WithContext(ctx).Consistency(sc.cfg.ReadConsistency).Scan(&value)
	if errors.Is(err, gocql.ErrNotFound) {
		return -1, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", SchemaVersionKey, err)
	}
	v, perr := strconv.Atoi(value)
	if perr != nil {
		sc.log.Warn("unparsable schema version, treated as absent", "value", value)
		return -1, false, nil
	}
	return v, true, nil
}

func (sc *schemaSetup) setVersion(ctx context.Context, v int) error {
	var origin *string
	if sc.cfg.Origin != "" {
		origin = &sc.cfg.Origin
	}
	err := sc.s.Query(`INSERT INTO `+sc.cfg.Keyspace+`.`+sc.cfg.Tables.Setting+` (key, value, timestamp, origin) VALUES (?, ?, ?, ?)`,
		SchemaVersionKey, strconv.Itoa(v), time.Now(), origin).
		WithContext(ctx).Consistency(sc.cfg.WriteConsistency).Exec()
	if err != nil {
		return fmt.Errorf("save %s %d: %w", SchemaVersionKey, v, err)
	}
	return nil
}

// migrate is the original's MigrateSchema.run: plan without the lock; when there is work, take
// the lock, plan again (another node may have done it meanwhile) and apply.
func (sc *schemaSetup) migrate(ctx context.Context, fresh bool) (int, error) {
	v, known, err := sc.version(ctx)
	if err != nil {
		return 0, err
	}
	if first, recordOnly := migrationPlan(v, known, fresh); !recordOnly && first > SchemaVersion {
		return v, nil
	}
	err = sc.lock().with(ctx, func(ctx context.Context) error {
		v, known, err = sc.version(ctx)
		if err != nil {
			return err
		}
		first, recordOnly := migrationPlan(v, known, fresh)
		if recordOnly {
			v = SchemaVersion
			return sc.setVersion(ctx, v)
		}
		ms := migrations(sc.cfg)
		for i := first; i < len(ms); i++ {
			sc.log.Info("migrating schema", "keyspace", sc.cfg.Keyspace, "to", i, "statement", firstLine(ms[i]))
			if err := sc.exec(ctx, ms[i]); err != nil {
				if !toleratedMigrationError(err) {
					return &MigrationError{Version: i, Statement: ms[i], Err: err}
				}
				sc.log.Debug("migration step already applied", "to", i, "error", err)
			}
			if err := sc.setVersion(ctx, i); err != nil {
				return err
			}
			v = i
		}
		return nil
	})
	return v, err
}
