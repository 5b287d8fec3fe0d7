package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

func init() {
	commands["inspect"] = command{
		summary: "print what Cassandra holds for a journal: its metajournal row and its events",
		run: func(ctx context.Context, args []string) int {
			return runInspect(ctx, args, os.Stdout, os.Stderr)
		},
	}
}

const inspectUsage = `usage: kjournal inspect [flags] ID

Prints, as JSON lines, what the replicator has written to Cassandra for the journal ID of --topic:
first {"head": ...} (the metajournal row, or null when there is none), then one {"event": ...} per
stored event from --from on, and finally {"pointer2": ...}, the replicated offset of the journal's
partition when --partition is given. Read-only; it creates no keyspace or table.

flags:
`

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hosts := fs.String("cassandra-hosts", envOr("CASSANDRA_HOSTS", "127.0.0.1:9042"), "comma-separated Cassandra contact points (env CASSANDRA_HOSTS)")
	keyspace := fs.String("keyspace", envOr("KJOURNAL_KEYSPACE", "journal"), "keyspace (env KJOURNAL_KEYSPACE)")
	topic := fs.String("topic", envOr("KJOURNAL_TOPIC", "journal"), "topic of the journal (env KJOURNAL_TOPIC)")
	from := fs.Int64("from", 1, "first seqNr to print")
	limit := fs.Int("limit", 1000, "print at most this many events (0: all)")
	partition := fs.Int("partition", -1, "also print pointer2 of this partition")
	timeout := fs.Duration("timeout", time.Minute, "overall time limit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), inspectUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintln(stderr, "kjournal inspect: "+strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " "))
		return code
	}
	if fs.NArg() != 1 {
		return fail(2, "want exactly one journal id (see kjournal inspect --help)")
	}
	key := journal.Key{Topic: *topic, ID: fs.Arg(0)}
	if err := key.Validate(); err != nil {
		return fail(2, "%v", err)
	}
	if err := journal.SeqNr(*from).Validate(); err != nil {
		return fail(2, "--from: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st, err := cassandra.Open(ctx, cassandra.Config{
		Hosts:                     strings.Split(*hosts, ","),
		Keyspace:                  *keyspace,
		DisableKeyspaceAutoCreate: true,
		DisableTableAutoCreate:    true,
		Logger:                    hclog.NewNullLogger(),
	})
	if err != nil {
		return fail(1, "%v", err)
	}
	defer st.Close()
	out := json.NewEncoder(stdout)

	head, ok, err := st.Head(ctx, key)
	if err != nil {
		return fail(1, "%v", err)
	}
	var h any
	if ok {
		row := map[string]any{"partition": head.PartitionOffset.Partition, "offset": head.PartitionOffset.Offset,
			"seq_nr": head.SeqNr, "delete_to": head.DeleteTo, "segment_size": head.SegmentSize, "segment": head.Segment}
		if head.Expiry != nil {
			row["expire_after"] = head.Expiry.After.String()
			row["expire_on"] = head.Expiry.On.Format(time.DateOnly)
		}
		if head.RecordID != nil {
			row["record_id"] = head.RecordID.String()
		}
		h = row
	}
	_ = out.Encode(map[string]any{"head": h})
	n := 0
	for e, err := range st.Read(ctx, key, journal.SeqNr(*from)) {
		if err != nil {
			return fail(1, "%v", err)
		}
		if *limit > 0 && n == *limit {
			break
		}
		n++
		_ = out.Encode(map[string]any{"event": inspectEvent(e)})
	}
	if *partition >= 0 {
		o, ok, err := st.Offset(ctx, key.Topic, int32(*partition))
		if err != nil {
			return fail(1, "%v", err)
		}
		var p any
		if ok {
			p = o
		}
		_ = out.Encode(map[string]any{"pointer2": p})
	}
	return 0
}

func inspectEvent(e journal.EventRecord) map[string]any {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	m := map[string]any{
		"seq_nr": e.SeqNr, "tags": tags, "partition": e.Partition, "offset": e.Offset,
		"timestamp": e.Timestamp.UTC().Format(time.RFC3339Nano), "origin": e.Origin, "version": e.Version,
	}
	switch e.Payload.Type {
	case journal.PayloadText:
		m["payload"] = string(e.Payload.Data)
	case journal.PayloadJSON:
		m["payload"] = json.RawMessage(e.Payload.Data)
	case journal.PayloadBinary:
		m["payload_base64"] = base64.StdEncoding.EncodeToString(e.Payload.Data)
	}
	if e.Payload.Type != "" {
		m["payload_type"] = e.Payload.Type
	}
	if len(e.Headers) > 0 {
		m["headers"] = e.Headers
	}
	return m
}
