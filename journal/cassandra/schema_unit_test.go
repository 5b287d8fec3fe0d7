package cassandra_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal/cassandra"
)

func TestMigrationPlan(t *testing.T) {
	for _, tc := range []struct {
		version          int
		known, fresh     bool
		first            int
		recordOnly, none bool
	}{
		{version: -1, known: false, fresh: true, recordOnly: true},
		{version: -1, known: false, fresh: false, first: 0},
		{version: 0, known: true, first: 1},
		{version: 0, known: true, fresh: true, first: 1},
		{version: 5, known: true, first: 6},
		{version: 7, known: true, first: 8},
		{version: 8, known: true, none: true},
		{version: 9, known: true, none: true},
		{version: -1, known: true, first: 0},
		{version: -7, known: true, first: 0},
	} {
		first, recordOnly := cassandra.MigrationPlan(tc.version, tc.known, tc.fresh)
		switch {
		case tc.recordOnly:
			if !recordOnly {
				t.Errorf("plan(%d,%v,%v): want record only", tc.version, tc.known, tc.fresh)
			}
		case tc.none:
			if recordOnly || first <= cassandra.SchemaVersion {
				t.Errorf("plan(%d,%v,%v) = %d,%v; want nothing", tc.version, tc.known, tc.fresh, first, recordOnly)
			}
		default:
			if recordOnly || first != tc.first {
				t.Errorf("plan(%d,%v,%v) = %d,%v; want from %d", tc.version, tc.known, tc.fresh, first, recordOnly, tc.first)
			}
		}
	}
}

func TestMigrations_Original(t *testing.T) {
	cfg, err := cassandra.Config{Hosts: []string{"h"}, Keyspace: "ks"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ms := cassandra.Migrations(cfg)
	want := []string{
		"ALTER TABLE ks.journal ADD headers map<text, text>",
		"ALTER TABLE ks.journal ADD version TEXT",
		"DROP TABLE IF EXISTS metadata",
		"CREATE TABLE IF NOT EXISTS ks.pointer2 (",
		"ALTER TABLE ks.journal ADD meta_record_id UUID",
		"ALTER TABLE ks.metajournal ADD record_id UUID",
		"DROP TABLE IF EXISTS pointer",
		"DROP TABLE IF EXISTS ks.metadata",
		"DROP TABLE IF EXISTS ks.pointer",
	}
	if len(ms) != cassandra.SchemaVersion+1 || len(ms) != len(want) {
		t.Fatalf("%d migrations, want %d", len(ms), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(strings.TrimSpace(ms[i]), want[i]) {
			t.Errorf("migration %d = %q, want %q", i, ms[i], want[i])
		}
	}
}

func TestCreateKeyspaceCQL(t *testing.T) {
	if got, want := cassandra.CreateKeyspaceCQL("journal", cassandra.Replication{Class: cassandra.SimpleStrategy, Factor: 1}),
		"CREATE KEYSPACE IF NOT EXISTS journal WITH REPLICATION = { 'class' : 'SimpleStrategy','replication_factor':1 }"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := cassandra.CreateKeyspaceCQL("journal", cassandra.Replication{Class: cassandra.NetworkTopologyStrategy, DCs: map[string]int{"dc2": 2, "dc1": 3}}),
		"CREATE KEYSPACE IF NOT EXISTS journal WITH REPLICATION = { 'class' : 'NetworkTopologyStrategy','dc1':3,'dc2':2 }"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestToleratedMigrationError(t *testing.T) {
	if cassandra.ToleratedMigrationError(errors.New("Column with name 'headers' already exists")) {
		t.Error("a non-Cassandra error must not be tolerated")
	}
	if cassandra.ToleratedMigrationError(&gocql.RequestErrWriteTimeout{}) {
		t.Error("a timeout must not be tolerated")
	}
	if !cassandra.ToleratedMigrationError(&gocql.RequestErrAlreadyExists{}) {
		t.Error("AlreadyExists must be tolerated")
	}
}

func TestConfig_Defaults(t *testing.T) {
	cfg, err := cassandra.Config{Hosts: []string{" 127.0.0.1:9042 ", ""}, Keyspace: "Journal"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Hosts) != 1 || cfg.Hosts[0] != "127.0.0.1:9042" {
		t.Errorf("hosts %q", cfg.Hosts)
	}
	if cfg.Keyspace != "journal" || cfg.Tables != (cassandra.Tables{Journal: "journal", MetaJournal: "metajournal", Pointer2: "pointer2", Setting: "setting", Locks: "locks",
		Snapshot: "snapshot_buffer", Fence: "seqnr_fence"}) {
		t.Errorf("names %q %+v", cfg.Keyspace, cfg.Tables)
	}
	if cfg.SegmentSize != 10000 || cfg.PageSize != 1000 || cfg.ReadConsistency != gocql.LocalQuorum || cfg.WriteConsistency != gocql.LocalQuorum {
		t.Errorf("defaults %+v", cfg)
	}
	if cfg.Replication.Class != cassandra.SimpleStrategy || cfg.Replication.Factor != 1 {
		t.Errorf("replication %+v", cfg.Replication)
	}
	if cfg.StartTimeout != time.Minute || cfg.LockTimeout != time.Minute || cfg.LockExpiry != time.Minute || cfg.Logger == nil || cfg.Origin == "" {
		t.Errorf("defaults %+v", cfg)
	}
}
