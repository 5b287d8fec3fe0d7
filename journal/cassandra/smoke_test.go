package cassandra_test

import (
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/internal/testenv"
)

// TestSmoke_KeyspaceTableRow proves gocql (native protocol 4) works against the real Cassandra 5.0 node.
func TestSmoke_KeyspaceTableRow(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	ks := testenv.Name("smoke")

	cluster := gocql.NewCluster(hosts...)
	cluster.ProtoVersion = 4
	cluster.Timeout = 20 * time.Second
	cluster.Consistency = gocql.LocalQuorum
	session, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer session.Close()

	if err := session.Query(`CREATE KEYSPACE ` + ks + ` WITH replication = {'class':'SimpleStrategy','replication_factor':1}`).Exec(); err != nil {
		t.Fatalf("create keyspace: %v", err)
	}
	t.Cleanup(func() { _ = session.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec() })
	if err := session.Query(`CREATE TABLE ` + ks + `.t (id text PRIMARY KEY, n bigint, tags set<text>)`).Exec(); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := session.Query(`INSERT INTO `+ks+`.t (id, n, tags) VALUES (?, ?, ?)`, "a", int64(42), []string{"x", "y"}).Exec(); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var n int64
	var tags []string
	if err := session.Query(`SELECT n, tags FROM `+ks+`.t WHERE id = ?`, "a").Scan(&n, &tags); err != nil {
		t.Fatalf("select: %v", err)
	}
	if n != 42 || len(tags) != 2 || tags[0] != "x" || tags[1] != "y" {
		t.Errorf("got n=%d tags=%v, want 42 [x y]", n, tags)
	}
}
