package cassandra_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// testKeyspace returns the Cassandra hosts (or skips), a fresh keyspace name that is dropped when
// the test ends, and an admin session without a keyspace.
func testKeyspace(tb testing.TB) (hosts []string, ks string, admin *gocql.Session) {
	tb.Helper()
	hosts = testenv.CassandraHosts(tb)
	ks = testenv.Name("ks")
	cluster := gocql.NewCluster(hosts...)
	cluster.ProtoVersion = 4
	cluster.Timeout = 30 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	cluster.Consistency = gocql.LocalQuorum
	admin, err := cluster.CreateSession()
	if err != nil {
		tb.Fatalf("admin session: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			tb.Logf("drop keyspace %s: %v", ks, err)
		}
		admin.Close()
	})
	return hosts, ks, admin
}

// testConfig is the Config the tests open stores with.
func testConfig(tb testing.TB, hosts []string, ks string) cassandra.Config {
	tb.Helper()
	level := hclog.Warn
	if os.Getenv("KJ_TEST_DEBUG") != "" {
		level = hclog.Debug
	}
	return cassandra.Config{
		Hosts:        hosts,
		Keyspace:     ks,
		Timeout:      30 * time.Second,
		StartTimeout: 30 * time.Second,
		Origin:       "kjournal-test",
		Logger:       hclog.New(&hclog.LoggerOptions{Name: tb.Name(), Level: level, Output: testWriter{tb}}),
	}
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p))
	return len(p), nil
}

func openStore(tb testing.TB, cfg cassandra.Config) *cassandra.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := cassandra.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func exec(tb testing.TB, s *gocql.Session, stmts ...string) {
	tb.Helper()
	for _, q := range stmts {
		if err := s.Query(q).Exec(); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
}
