package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/protocol"
)

// The least-privilege test's Cassandra: ports of its own (KJ_AUTH_CASSANDRA_PORT and
// KJ_AUTH_STORAGE_PORT override them), so it runs beside the fault stack and the shared one.
const (
	authCQLPort     = "29142"
	authStoragePort = "27142"
)

// The roles README's "Least privilege" tells platform teams to create, in the same words.
var authGrants = []string{
	"CREATE ROLE kjournal_sidecar WITH PASSWORD = 'sidecar-pw' AND LOGIN = true",
	"GRANT SELECT ON KEYSPACE journal TO kjournal_sidecar",
	"GRANT MODIFY ON TABLE journal.snapshot_buffer TO kjournal_sidecar",
	"CREATE ROLE kjournal_replicator WITH PASSWORD = 'replicator-pw' AND LOGIN = true",
	"GRANT SELECT ON KEYSPACE journal TO kjournal_replicator",
	"GRANT MODIFY ON KEYSPACE journal TO kjournal_replicator",
	// A role that may log in and nothing else: what a forgotten GRANT looks like.
	"CREATE ROLE kjournal_nogrants WITH PASSWORD = 'nogrants-pw' AND LOGIN = true",
}

// TestLeastPrivilege runs a Cassandra with PasswordAuthenticator and CassandraAuthorizer (stack.sh
// CASSANDRA_AUTH=1) of its own, next to the shared stack's Kafka: the superuser creates the schema
// (kjournal schema) and the roles; a replicator with SELECT and MODIFY and a sidecar with SELECT (and
// MODIFY on the snapshot table only) serve an append and a snapshot end to end; a sidecar with no grant, a wrong password or a keyspace without
// the schema fails to start at once, saying why.
func TestLeastPrivilege(t *testing.T) {
	if os.Getenv("KJ_AUTH") != "1" {
		t.Skip("least-privilege test: set KJ_AUTH=1 (make test sets it) to run it on a Cassandra of its own")
	}
	brokers := testenv.KafkaBrokers(t)
	root, mainRun, err := dirs()
	if err != nil {
		t.Fatal(err)
	}
	cql := envOr("KJ_AUTH_CASSANDRA_PORT", authCQLPort)
	s, err := newPrivateStack(root, mainRun, filepath.Join(mainRun, "auth"), false,
		"CASSANDRA_PORT="+cql, "CASSANDRA_STORAGE_PORT="+envOr("KJ_AUTH_STORAGE_PORT", authStoragePort),
		"CASSANDRA_HEAP=512m", "CASSANDRA_AUTH=1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.fresh(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.sh("stop", "cassandra"); err != nil {
			t.Error(err)
		}
		_ = os.RemoveAll(filepath.Join(s.run, "cassandra"))
	})
	s.must(t, "start", "cassandra")
	bin, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	hosts := "127.0.0.1:" + cql
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The superuser: the schema, then the roles.
	as := func(user, password string) []string {
		return append(append([]string(nil), s.env...), "CASSANDRA_USERNAME="+user, "CASSANDRA_PASSWORD="+password)
	}
	schema := exec.CommandContext(ctx, bin, "schema", "--cassandra-hosts", hosts, "--log-level", "warn")
	schema.Env = as("cassandra", "cassandra")
	if out, err := schema.CombinedOutput(); err != nil {
		t.Fatalf("kjournal schema as the superuser: %v\n%s", err, out)
	}
	admin, err := cassandra.OpenSession(ctx, cassandra.Config{Hosts: []string{hosts}, Username: "cassandra", Password: "cassandra"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, stmt := range authGrants {
		if err := admin.Query(stmt).WithContext(ctx).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	// Denied sidecars end within seconds, far inside their start timeout, naming the problem.
	for _, c := range []struct {
		name, user, password, keyspace string
		startTimeout                   string
		want                           []string
	}{
		{"no grant", "kjournal_nogrants", "nogrants-pw", "journal", "40s", []string{"cassandra: not authorized", "has no SELECT permission", "Least privilege"}},
		{"wrong password", "kjournal_sidecar", "wrong", "journal", "40s", []string{"cassandra: not authorized", "password are incorrect"}},
		// Waits for a replicator that never comes, then says what to run.
		{"no schema", "kjournal_sidecar", "sidecar-pw", "nothing_here", "3s", []string{"keyspace nothing_here does not exist", "run `kjournal schema` or start the replicator"}},
	} {
		start := time.Now()
		cmd := exec.CommandContext(ctx, bin, "sidecar", "--socket", filepath.Join(t.TempDir(), "k.sock"), "--http-addr", "-",
			"--kafka-brokers", strings.Join(brokers, ","), "--cassandra-hosts", hosts, "--cassandra-username", c.user,
			"--keyspace", c.keyspace, "--start-timeout", c.startTimeout, "--log-format", "text", "--log-level", "warn")
		cmd.Env = as("", c.password)
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		t.Logf("sidecar, %s: exit %v after %v: %s", c.name, err, took.Round(time.Millisecond), bytes.TrimSpace(out))
		if err == nil {
			t.Fatalf("sidecar, %s: started", c.name)
		}
		for _, w := range c.want {
			if !bytes.Contains(out, []byte(w)) {
				t.Errorf("sidecar, %s: output lacks %q", c.name, w)
			}
		}
		if took > 20*time.Second {
			t.Errorf("sidecar, %s: took %v to fail; an authorization error is not retried", c.name, took)
		}
	}

	// The granted roles work: an append through the sidecar, copied to Cassandra by the replicator.
	topic := topicName("auth")
	replicatorAddr, sidecarAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	replicator := exec.Command(bin, "replicator", "--kafka-brokers", strings.Join(brokers, ","), "--cassandra-hosts", hosts,
		"--cassandra-username", "kjournal_replicator", "--topic-prefixes", topic, "--group-prefix", topic,
		"--http-addr", replicatorAddr, "--discovery-interval", "500ms", "--expiry-interval", "0", "--log-format", "text")
	replicator.Env = as("", "replicator-pw")
	sidecarSocket := filepath.Join(t.TempDir(), "k.sock")
	sidecar := exec.Command(bin, "sidecar", "--socket", sidecarSocket, "--http-addr", sidecarAddr,
		"--kafka-brokers", strings.Join(brokers, ","), "--cassandra-hosts", hosts, "--cassandra-username", "kjournal_sidecar",
		"--log-format", "text")
	sidecar.Env = as("", "sidecar-pw")
	for _, p := range []*exec.Cmd{replicator, sidecar} {
		var log bytes.Buffer
		p.Stdout, p.Stderr = &log, &log
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.Process.Kill()
			_ = p.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", p.Args[1], log.String())
			}
		})
	}
	for _, addr := range []string{replicatorAddr, sidecarAddr} {
		eventually(t, 60*time.Second, addr+" ready", func() bool {
			code, _ := httpGet(addr, "/readyz")
			return code == 200
		})
	}
	c := newClient(sidecarSocket)
	defer c.Close()
	eventually(t, 60*time.Second, "the sidecar serves", func() bool {
		_, err := c.pointer(ctx, topic, "warmup", 1000)
		return err == nil
	})
	rep, err := c.append(ctx, topic, "j1", 10000, 1, 2, 3)
	if err != nil {
		t.Fatalf("append as kjournal_sidecar: %v", err)
	}
	t.Logf("appended at partition %d offset %d", rep.Partition, rep.Offset)
	reader, err := cassandra.Open(ctx, cassandra.Config{Hosts: []string{hosts}, Keyspace: "journal", NoCreateSchema: true,
		Username: "kjournal_sidecar", Password: "sidecar-pw", Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	eventually(t, 60*time.Second, "the replicator copies j1 to Cassandra", func() bool {
		got, err := cassandraSeqNrs(ctx, reader, topic, "j1")
		return err == nil && fmt.Sprint(got) == "[1 2 3]"
	})
	res, err := c.read(ctx, topic, "j1", 10000)
	if err != nil || fmt.Sprint(res.seqNrs) != "[1 2 3]" || !res.ok {
		t.Fatalf("read through the sidecar: %v %v", res, err)
	}
	// Snapshots: the one table the sidecar writes.
	save, err := c.do(ctx, &protocol.SaveSnapshotRequest{Journal: "j1", Topic: topic, SeqNr: 3, PayloadType: protocol.PayloadText, Payload: "state"})
	if _, ok := save.(*protocol.SaveSnapshotReply); err != nil || !ok {
		t.Fatalf("save_snapshot as kjournal_sidecar: %#v %v", save, err)
	}
	load, err := c.do(ctx, &protocol.LoadSnapshotRequest{Journal: "j1", Topic: topic, SnapshotCriteria: protocol.NewSnapshotCriteria()})
	if lr, ok := load.(*protocol.LoadSnapshotReply); err != nil || !ok || lr.Snapshot == nil || lr.Snapshot.Payload != "state" {
		t.Fatalf("load_snapshot as kjournal_sidecar: %#v %v", load, err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
