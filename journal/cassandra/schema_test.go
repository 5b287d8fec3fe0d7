package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal/cassandra"
)

// column is one row of system_schema.columns.
type column struct {
	name, kind, typ, order string
	position               int
}

func (c column) String() string {
	return fmt.Sprintf("%s %s %s pos=%d order=%s", c.name, c.typ, c.kind, c.position, c.order)
}

// wantColumns is the original's schema v8, column by column (JournalStatements,
// MetaJournalStatements, Pointer2Statements, SettingStatements, cassandra-sync), as Cassandra
// reports it in system_schema.columns.
var wantColumns = map[string][]column{
	"journal": {
		{"id", "partition_key", "text", "none", 0},
		{"topic", "partition_key", "text", "none", 1},
		{"segment", "partition_key", "bigint", "none", 2},
		{"seq_nr", "clustering", "bigint", "asc", 0},
		{"timestamp", "clustering", "timestamp", "asc", 1},
		{"partition", "regular", "int", "none", -1},
		{"offset", "regular", "bigint", "none", -1},
		{"origin", "regular", "text", "none", -1},
		{"version", "regular", "text", "none", -1},
		{"meta_record_id", "regular", "uuid", "none", -1},
		{"tags", "regular", "set<text>", "none", -1},
		{"metadata", "regular", "text", "none", -1},
		{"payload_type", "regular", "text", "none", -1},
		{"payload_txt", "regular", "text", "none", -1},
		{"payload_bin", "regular", "blob", "none", -1},
		{"headers", "regular", "map<text, text>", "none", -1},
	},
	"metajournal": {
		{"topic", "partition_key", "text", "none", 0},
		{"segment", "partition_key", "bigint", "none", 1},
		{"id", "clustering", "text", "asc", 0},
		{"partition", "regular", "int", "none", -1},
		{"offset", "regular", "bigint", "none", -1},
		{"segment_size", "regular", "int", "none", -1},
		{"seq_nr", "regular", "bigint", "none", -1},
		{"delete_to", "regular", "bigint", "none", -1},
		{"created", "regular", "timestamp", "none", -1},
		{"created_date", "regular", "date", "none", -1},
		{"updated", "regular", "timestamp", "none", -1},
		{"expire_after", "regular", "duration", "none", -1},
		{"expire_on", "regular", "date", "none", -1},
		{"record_id", "regular", "uuid", "none", -1},
		{"origin", "regular", "text", "none", -1},
		{"properties", "regular", "map<text, text>", "none", -1},
		{"metadata", "regular", "text", "none", -1},
	},
	"pointer2": {
		{"topic", "partition_key", "text", "none", 0},
		{"partition", "partition_key", "int", "none", 1},
		{"offset", "regular", "bigint", "none", -1},
		{"created", "regular", "timestamp", "none", -1},
		{"updated", "regular", "timestamp", "none", -1},
	},
	"setting": {
		{"key", "partition_key", "text", "none", 0},
		{"value", "regular", "text", "none", -1},
		{"timestamp", "regular", "timestamp", "none", -1},
		{"origin", "regular", "text", "none", -1},
		{"metadata", "regular", "text", "none", -1},
	},
	// kjournal's own tables: kafka-journal's planned snapshot table (its unmerged snapshot branch), and
	// the conditional-append fence.
	"snapshot_buffer": {
		{"id", "partition_key", "text", "none", 0},
		{"topic", "partition_key", "text", "none", 1},
		{"buffer_idx", "clustering", "int", "asc", 0},
		{"seq_nr", "regular", "bigint", "none", -1},
		{"timestamp", "regular", "timestamp", "none", -1},
		{"origin", "regular", "text", "none", -1},
		{"version", "regular", "text", "none", -1},
		{"metadata", "regular", "text", "none", -1},
		{"payload_type", "regular", "text", "none", -1},
		{"payload_txt", "regular", "text", "none", -1},
		{"payload_bin", "regular", "blob", "none", -1},
	},
	"seqnr_fence": {
		{"topic", "partition_key", "text", "none", 0},
		{"id", "partition_key", "text", "none", 1},
		{"seq_nr", "regular", "bigint", "none", -1},
		{"claimed", "regular", "timestamp", "none", -1},
	},
	"locks": {
		{"id", "partition_key", "text", "none", 0},
		{"expiry_ms", "regular", "bigint", "none", -1},
		{"timestamp", "regular", "timestamp", "none", -1},
		{"metadata", "regular", "text", "none", -1},
	},
}

// wantIndexes are metajournal's two secondary indexes: name → target column.
var wantIndexes = map[string]string{
	"metajournal_created_date_idx": "created_date",
	"metajournal_expire_on_idx":    "expire_on",
}

func schemaColumns(tb testing.TB, s *gocql.Session, ks string) map[string][]column {
	tb.Helper()
	iter := s.Query(`SELECT table_name, column_name, kind, type, clustering_order, position FROM system_schema.columns WHERE keyspace_name = ?`, ks).Iter()
	got := map[string][]column{}
	var table string
	var c column
	for iter.Scan(&table, &c.name, &c.kind, &c.typ, &c.order, &c.position) {
		got[table] = append(got[table], c)
	}
	if err := iter.Close(); err != nil {
		tb.Fatalf("read system_schema.columns: %v", err)
	}
	return got
}

func schemaIndexes(tb testing.TB, s *gocql.Session, ks string) map[string]string {
	tb.Helper()
	iter := s.Query(`SELECT table_name, index_name, kind, options FROM system_schema.indexes WHERE keyspace_name = ?`, ks).Iter()
	got := map[string]string{}
	var table, name, kind string
	var options map[string]string
	for iter.Scan(&table, &name, &kind, &options) {
		got[name] = table + "(" + options["target"] + ") " + kind
	}
	if err := iter.Close(); err != nil {
		tb.Fatalf("read system_schema.indexes: %v", err)
	}
	return got
}

// assertSchemaV8 compares the keyspace with the original's schema v8, table by table and column
// by column, plus the indexes and the stored version.
func assertSchemaV8(tb testing.TB, s *gocql.Session, ks string) {
	tb.Helper()
	got := schemaColumns(tb, s, ks)
	var gotTables, wantTables []string
	for t := range got {
		gotTables = append(gotTables, t)
	}
	for t := range wantColumns {
		wantTables = append(wantTables, t)
	}
	sort.Strings(gotTables)
	sort.Strings(wantTables)
	if strings.Join(gotTables, ",") != strings.Join(wantTables, ",") {
		tb.Errorf("tables = %v, want %v", gotTables, wantTables)
	}
	for table, want := range wantColumns {
		key := func(cs []column) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.String())
			}
			sort.Strings(out)
			return out
		}
		g, w := key(got[table]), key(want)
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			tb.Errorf("table %s columns:\n got %s\nwant %s", table, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
		}
	}
	idx := schemaIndexes(tb, s, ks)
	if len(idx) != len(wantIndexes) {
		tb.Errorf("indexes = %v, want %v", idx, wantIndexes)
	}
	for name, target := range wantIndexes {
		if want := "metajournal(" + target + ") COMPOSITES"; idx[name] != want {
			tb.Errorf("index %s = %q, want %q", name, idx[name], want)
		}
	}
	var version, origin string
	if err := s.Query(`SELECT value, origin FROM `+ks+`.setting WHERE key = ?`, cassandra.SchemaVersionKey).Scan(&version, &origin); err != nil {
		tb.Fatalf("read schema-version: %v", err)
	}
	if version != "8" {
		tb.Errorf("schema-version = %q, want \"8\"", version)
	}
	var locks int
	if err := s.Query(`SELECT count(*) FROM ` + ks + `.locks`).Scan(&locks); err != nil {
		tb.Fatalf("count locks: %v", err)
	}
	if locks != 0 {
		tb.Errorf("%d lock rows left behind", locks)
	}
}

func TestSetupSchema_CreatesV8FromNothing(t *testing.T) {
	hosts, ks, admin := testKeyspace(t)
	start := time.Now()
	st := openStore(t, testConfig(t, hosts, ks))
	t.Logf("created keyspace and schema in %v", time.Since(start))
	if v := st.SchemaVersion(); v != cassandra.SchemaVersion {
		t.Errorf("SchemaVersion() = %d, want %d", v, cassandra.SchemaVersion)
	}
	assertSchemaV8(t, admin, ks)

	var replication map[string]string
	if err := admin.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&replication); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(replication["class"], "SimpleStrategy") || replication["replication_factor"] != "1" {
		t.Errorf("replication = %v, want SimpleStrategy RF 1", replication)
	}
}

func TestSetupSchema_Idempotent(t *testing.T) {
	hosts, ks, admin := testKeyspace(t)
	cfg := testConfig(t, hosts, ks)
	st := openStore(t, cfg)
	ctx := context.Background()

	// Concurrent setups against the existing schema, and two against a fresh keyspace: every one
	// ends at version 8 and the lock serialises the DDL.
	for i := 0; i < 2; i++ {
		v, err := cassandra.SetupSchema(ctx, st.Session(), cfg)
		if err != nil || v != cassandra.SchemaVersion {
			t.Fatalf("setup #%d = %d, %v; want %d", i+2, v, err, cassandra.SchemaVersion)
		}
	}
	assertSchemaV8(t, admin, ks)

	_, ks2, _ := testKeyspace(t)
	cfg2 := testConfig(t, hosts, ks2)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v int
			v, errs[i] = cassandra.SetupSchema(ctx, st.Session(), cfg2)
			if errs[i] == nil && v != cassandra.SchemaVersion {
				errs[i] = fmt.Errorf("version %d", v)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent setup %d: %v", i, err)
		}
	}
	assertSchemaV8(t, admin, ks2)

	// Tables in the current shape but no version recorded: every migration runs, and each one's
	// "already exists" is tolerated.
	exec(t, admin, `DELETE FROM `+ks+`.setting WHERE key = 'schema-version'`)
	if v, err := cassandra.SetupSchema(ctx, st.Session(), cfg); err != nil || v != cassandra.SchemaVersion {
		t.Fatalf("setup without a version = %d, %v", v, err)
	}
	assertSchemaV8(t, admin, ks)
}

// legacyShape creates the tables of an old kafka-journal keyspace: the journal without headers
// (unless withHeaders), version and meta_record_id, metajournal without record_id, the legacy
// metadata and pointer tables, a setting table, and no pointer2.
func legacyShape(tb testing.TB, admin *gocql.Session, ks string, withHeaders bool) {
	tb.Helper()
	headers := ""
	if withHeaders {
		headers = "headers map<text, text>,\n"
	}
	exec(tb, admin,
		`CREATE KEYSPACE `+ks+` WITH REPLICATION = { 'class' : 'SimpleStrategy','replication_factor':1 }`,
		`CREATE TABLE `+ks+`.journal (
id text,
topic text,
segment bigint,
seq_nr bigint,
partition int,
offset bigint,
timestamp timestamp,
origin text,
tags set<text>,
metadata text,
payload_type text,
payload_txt text,
payload_bin blob,
`+headers+`PRIMARY KEY ((id, topic, segment), seq_nr, timestamp))`,
		`CREATE TABLE `+ks+`.metadata (
id text,
topic text,
partition int,
offset bigint,
segment_size int,
seq_nr bigint,
delete_to bigint,
created timestamp,
updated timestamp,
origin text,
properties map<text,text>,
metadata text,
PRIMARY KEY ((topic), id))`,
		`CREATE TABLE `+ks+`.pointer (
topic text,
partition int,
offset bigint,
created timestamp,
updated timestamp,
PRIMARY KEY ((topic), partition))`,
		`CREATE TABLE `+ks+`.setting (
key text PRIMARY KEY,
value text,
timestamp timestamp,
origin text,
metadata text)`,
		`CREATE TABLE `+ks+`.metajournal (
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
origin TEXT,
properties MAP<TEXT,TEXT>,
metadata TEXT,
PRIMARY KEY ((topic, segment), id))`,
		`CREATE INDEX IF NOT EXISTS metajournal_created_date_idx ON `+ks+`.metajournal (created_date)`,
		`CREATE INDEX IF NOT EXISTS metajournal_expire_on_idx ON `+ks+`.metajournal (expire_on)`,
		// a row that must survive the migration
		`INSERT INTO `+ks+`.journal (id, topic, segment, seq_nr, timestamp, partition, offset) VALUES ('a', 't', 0, 1, '2019-02-15 00:00:00+0000', 0, 7)`,
	)
}

func TestSetupSchema_MigratesLegacy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers bool
		setting string // "" = no row
	}{
		// The oldest shape: no setting row and tables that existed, so every migration runs.
		{name: "no-setting", headers: false, setting: ""},
		// schema-version 0 = migration 0 (ADD headers) applied: the rest run.
		{name: "version-0", headers: true, setting: "0"},
		// An unparsable version counts as none.
		{name: "garbage-version", headers: false, setting: "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts, ks, admin := testKeyspace(t)
			legacyShape(t, admin, ks, tc.headers)
			if tc.setting != "" {
				exec(t, admin, `INSERT INTO `+ks+`.setting (key, value, timestamp, origin) VALUES ('schema-version', '`+tc.setting+`', toTimestamp(now()), 'scala')`)
			}
			start := time.Now()
			st := openStore(t, testConfig(t, hosts, ks))
			t.Logf("migrated in %v", time.Since(start))
			if v := st.SchemaVersion(); v != cassandra.SchemaVersion {
				t.Errorf("SchemaVersion() = %d, want %d", v, cassandra.SchemaVersion)
			}
			assertSchemaV8(t, admin, ks)
			var offset int64
			if err := admin.Query(`SELECT offset FROM ` + ks + `.journal WHERE id = 'a' AND topic = 't' AND segment = 0`).Scan(&offset); err != nil || offset != 7 {
				t.Errorf("legacy journal row: offset %d, %v", offset, err)
			}
		})
	}
}

func TestSetupSchema_LeavesNewerVersionAlone(t *testing.T) {
	hosts, ks, admin := testKeyspace(t)
	cfg := testConfig(t, hosts, ks)
	st := openStore(t, cfg)
	exec(t, admin, `INSERT INTO `+ks+`.setting (key, value, timestamp) VALUES ('schema-version', '9', toTimestamp(now()))`)
	// A newer implementation's migration 9 dropped a column we do not know about; we must not
	// touch the schema, only report the version.
	v, err := cassandra.SetupSchema(context.Background(), st.Session(), cfg)
	if err != nil || v != 9 {
		t.Fatalf("setup = %d, %v; want 9", v, err)
	}
	var value string
	if err := admin.Query(`SELECT value FROM ` + ks + `.setting WHERE key = 'schema-version'`).Scan(&value); err != nil || value != "9" {
		t.Errorf("schema-version = %q, %v; want 9", value, err)
	}
}

// TestSetupSchema_WaitsForScalaLock holds the lock the way a Scala kafka-journal node does (a row
// with id "kafka-journal" in the locks table) and checks that setup waits for it, times out while
// it is held, and proceeds once it is released.
func TestSetupSchema_WaitsForScalaLock(t *testing.T) {
	hosts, ks, admin := testKeyspace(t)
	cfg := testConfig(t, hosts, ks)
	st := openStore(t, cfg)
	ctx := context.Background()

	exec(t, admin, `DELETE FROM `+ks+`.setting WHERE key = 'schema-version'`) // work to do, under the lock
	hold := `INSERT INTO ` + ks + `.locks (id, expiry_ms, timestamp, metadata) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?`
	applied, err := admin.Query(hold, cassandra.LockID, int64(60000), time.Now(), "scala-node", 60).MapScanCAS(map[string]any{})
	if err != nil || !applied {
		t.Fatalf("hold lock: applied=%v err=%v", applied, err)
	}

	short := cfg
	short.LockTimeout = 700 * time.Millisecond
	start := time.Now()
	_, err = cassandra.SetupSchema(ctx, st.Session(), short)
	if !errors.Is(err, cassandra.ErrLockTimeout) {
		t.Fatalf("setup while locked: %v, want ErrLockTimeout", err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("gave up after %v, before the lock timeout", d)
	}

	// Release in a moment; a setup waiting meanwhile must then go ahead.
	go func() {
		time.Sleep(500 * time.Millisecond)
		_, _ = admin.Query(`DELETE FROM `+ks+`.locks WHERE id = ? IF EXISTS`, cassandra.LockID).MapScanCAS(map[string]any{})
	}()
	v, err := cassandra.SetupSchema(ctx, st.Session(), cfg)
	if err != nil || v != cassandra.SchemaVersion {
		t.Fatalf("setup after release = %d, %v", v, err)
	}
	assertSchemaV8(t, admin, ks)
}

func TestOpen_NoKeyspaceAutoCreate(t *testing.T) {
	hosts, ks, _ := testKeyspace(t)
	cfg := testConfig(t, hosts, ks)
	cfg.DisableKeyspaceAutoCreate = true
	_, err := cassandra.Open(context.Background(), cfg)
	if !errors.Is(err, cassandra.ErrSchema) {
		t.Fatalf("open = %v, want ErrSchema", err)
	}
}

func TestOpen_Unreachable(t *testing.T) {
	cfg := cassandra.Config{Hosts: []string{"127.0.0.1:1"}, StartTimeout: 300 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := cassandra.Open(context.Background(), cfg)
	if !errors.Is(err, cassandra.ErrConnect) {
		t.Fatalf("open = %v, want ErrConnect", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// With NoCreateSchema, Open runs no DDL: a missing schema, and one older than SchemaVersion, fail
// with ErrNoSchema at StartTimeout, saying what to run; a schema being created meanwhile (the
// replicator starting beside the sidecar) is waited for.
func TestOpen_NoCreateSchema(t *testing.T) {
	hosts, ks, admin := testKeyspace(t)
	ctx := context.Background()
	check := testConfig(t, hosts, ks)
	check.NoCreateSchema, check.StartTimeout = true, time.Second

	_, err := cassandra.Open(ctx, check)
	if !errors.Is(err, cassandra.ErrNoSchema) || !strings.Contains(err.Error(), "keyspace "+ks+" does not exist: run `kjournal schema`") {
		t.Fatalf("open without a keyspace: %v, want ErrNoSchema naming the keyspace", err)
	}
	var n int
	if err := admin.Query(`SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Open with NoCreateSchema created the keyspace (%d, %v)", n, err)
	}

	// Created while the checking Open waits.
	setup := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		st, err := cassandra.Open(ctx, testConfig(t, hosts, ks))
		if err == nil {
			err = st.Close()
		}
		setup <- err
	}()
	waiting := check
	waiting.StartTimeout = 2 * time.Minute
	st := openStore(t, waiting)
	if err := <-setup; err != nil {
		t.Fatal(err)
	}
	if st.SchemaVersion() != cassandra.SchemaVersion {
		t.Fatalf("version %d", st.SchemaVersion())
	}

	exec(t, admin, `UPDATE `+ks+`.setting SET value = '7' WHERE key = 'schema-version'`)
	_, err = cassandra.Open(ctx, check)
	if !errors.Is(err, cassandra.ErrNoSchema) || !strings.Contains(err.Error(), "has schema version 7, this kjournal needs 8") {
		t.Fatalf("open at version 7: %v", err)
	}
}
