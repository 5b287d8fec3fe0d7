package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal/cassandra"
)

func init() {
	commands["schema"] = command{
		summary: "create or migrate the Cassandra schema (v8) and print its version",
		run: func(ctx context.Context, args []string) int {
			return runSchema(ctx, args, os.Stdout, os.Stderr)
		},
	}
}

const schemaUsage = `usage: kjournal schema [flags]

Creates the keyspace and the tables kafka-journal and kjournal share (journal, metajournal, pointer2,
setting, locks) when they are missing, migrates an older schema to version %d under the same lock a
Scala kafka-journal node takes, and prints the resulting version. Running it again changes nothing.

flags:
`

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hosts := fs.String("cassandra-hosts", envOr("CASSANDRA_HOSTS", "127.0.0.1:9042"), "comma-separated Cassandra contact points, host[:port] (env CASSANDRA_HOSTS)")
	keyspace := fs.String("keyspace", "journal", "keyspace")
	replication := fs.String("replication", "SimpleStrategy:1", "replication of a keyspace created now: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,...")
	noKeyspace := fs.Bool("no-create-keyspace", false, "fail instead of creating a missing keyspace and locks table")
	noTables := fs.Bool("no-create-tables", false, "do not create missing tables; only migrate existing ones")
	consistency := fs.String("consistency", "LOCAL_QUORUM", "consistency of the setting-table reads and writes")
	localDC := fs.String("local-dc", "", "prefer the hosts of this data centre")
	username := fs.String("username", os.Getenv("CASSANDRA_USERNAME"), "user name for password authentication (env CASSANDRA_USERNAME; the password is read from env CASSANDRA_PASSWORD)")
	startTimeout := fs.Duration("start-timeout", time.Minute, "how long to keep retrying while Cassandra is unreachable")
	lockTimeout := fs.Duration("lock-timeout", time.Minute, "how long to wait for the schema lock another node holds")
	timeout := fs.Duration("timeout", 5*time.Minute, "overall time limit")
	logLevel := fs.String("log-level", "info", "log level on stderr: trace, debug, info, warn, error, off")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), schemaUsage, cassandra.SchemaVersion)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // flag printed the error and the usage
	}
	fail := func(code int, format string, a ...any) int {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "kjournal schema: "+msg)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q (see kjournal schema --help)", fs.Arg(0))
	}
	repl, err := cassandra.ParseReplication(*replication)
	if err != nil {
		return fail(2, "--replication: %v", err)
	}
	cons, err := schemaConsistency(*consistency)
	if err != nil {
		return fail(2, "--consistency: %v", err)
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fail(2, "--log-level: unknown level %q", *logLevel)
	}

	cfg := cassandra.Config{
		Hosts:                     strings.Split(*hosts, ","),
		Keyspace:                  *keyspace,
		Replication:               repl,
		DisableKeyspaceAutoCreate: *noKeyspace,
		DisableTableAutoCreate:    *noTables,
		ReadConsistency:           cons,
		WriteConsistency:          cons,
		LocalDC:                   *localDC,
		Username:                  *username,
		Password:                  os.Getenv("CASSANDRA_PASSWORD"),
		StartTimeout:              *startTimeout,
		LockTimeout:               *lockTimeout,
		Logger:                    hclog.New(&hclog.LoggerOptions{Name: "kjournal", Level: level, Output: stderr}),
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st, err := cassandra.Open(ctx, cfg)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer st.Close()
	v := st.SchemaVersion()
	note := ""
	if v > cassandra.SchemaVersion {
		note = fmt.Sprintf(" (newer than this kjournal's %d; left alone)", cassandra.SchemaVersion)
	}
	fmt.Fprintf(stdout, "keyspace %s: schema version %d%s\n", strings.ToLower(*keyspace), v, note)
	return 0
}

func schemaConsistency(s string) (gocql.Consistency, error) {
	var c gocql.Consistency
	if err := c.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil {
		return 0, err
	}
	if c == gocql.Any {
		return 0, fmt.Errorf("ANY cannot be used for reads")
	}
	return c, nil
}
