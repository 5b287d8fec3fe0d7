package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/internal/testenv"
)

func TestSchema_Help(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runSchema(context.Background(), []string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: kjournal schema", "-cassandra-hosts", "-keyspace", "version 8"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestSchema_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"bad replication", []string{"--replication", "Everywhere:3"}, 2},
		{"bad consistency", []string{"--consistency", "MOST"}, 2},
		{"argument", []string{"extra"}, 2},
		{"bad keyspace", []string{"--keyspace", "no-dashes", "--cassandra-hosts", "127.0.0.1:1"}, 1},
		{"unreachable", []string{"--cassandra-hosts", "127.0.0.1:1", "--start-timeout", "200ms", "--log-level", "off"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runSchema(context.Background(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "kjournal schema: ") {
				t.Errorf("stderr is not one error line:\n%s", errOut.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q", out.String())
			}
		})
	}
}

func TestSchema_CreatesThenReports(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	ks := testenv.Name("cmd")
	cluster := gocql.NewCluster(hosts...)
	cluster.ProtoVersion = 4
	cluster.Timeout = 30 * time.Second
	admin, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec()
		admin.Close()
	})
	for i := 0; i < 2; i++ {
		var out, errOut bytes.Buffer
		code := runSchema(context.Background(), []string{"--cassandra-hosts", strings.Join(hosts, ","), "--keyspace", ks, "--log-level", "warn"}, &out, &errOut)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, errOut.String())
		}
		if got, want := out.String(), "keyspace "+ks+": schema version 8\n"; got != want {
			t.Errorf("run %d: stdout %q, want %q", i, got, want)
		}
	}
	var v string
	if err := admin.Query(`SELECT value FROM ` + ks + `.setting WHERE key = 'schema-version'`).Scan(&v); err != nil || v != "8" {
		t.Errorf("schema-version %q, %v", v, err)
	}
}
