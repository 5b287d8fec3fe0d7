package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/replicator/replicatortest"
)

func TestReplicatorCmd_Help(t *testing.T) {
	var errOut bytes.Buffer
	if code := runReplicator(context.Background(), []string{"--help"}, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: kjournal replicator", "-kafka-brokers", "-cassandra-hosts", "-keyspace",
		"-topic-prefixes", "-group-prefix", "-http-addr", "-on-poison", "-expiry-interval", "-discovery-interval",
		"-log-format", "-log-level", "-instance-id", "KAFKA_BROKERS", "KJOURNAL_REPLICATOR_HTTP_ADDR"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestReplicatorCmd_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"argument", []string{"extra"}, 2},
		{"poison mode", []string{"--on-poison", "ignore"}, 2},
		{"log format", []string{"--log-format", "xml"}, 2},
		{"log level", []string{"--log-level", "loud"}, 2},
		{"negative expiry", []string{"--expiry-interval", "-1h"}, 2},
		{"replication", []string{"--replication", "Everywhere:3"}, 2},
		{"cassandra unreachable", []string{"--cassandra-hosts", "127.0.0.1:1", "--start-timeout", "300ms", "--log-level", "off"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			if code := runReplicator(context.Background(), tc.args, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "kjournal replicator: ") {
				t.Errorf("stderr is not one error line:\n%s", errOut.String())
			}
		})
	}
}

// TestReplicatorCmd_CrashRestart kills `kjournal replicator` with SIGKILL at random moments while
// a writer appends 20,000 events to 200 journals (deleting and purging some now and then),
// restarts it every time, and then checks that every journal in Cassandra is the fold of its
// Kafka actions (no event lost, none duplicated, deletes and purges applied) and that pointer2 is
// every partition's last offset. The last instance is stopped with SIGTERM and must exit 0 after
// committing.
func TestReplicatorCmd_CrashRestart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	hosts := testenv.CassandraHosts(t)
	if testing.Short() {
		t.Skip("crash test: not in -short mode")
	}
	began := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kjournal")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built in %s", time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	keyspace := testenv.Name("crash")
	prefix := testenv.Name("crash")
	topic := prefix + "_t"
	groupPrefix := "crashtest"
	st, err := cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: keyspace, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Session().Query(`DROP KEYSPACE IF EXISTS ` + keyspace).Exec()
		_ = st.Close()
	})
	log, err := kafka.New(kafka.Config{Brokers: brokers, ClientID: "crash-writer"})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	js, err := journal.New(journal.Config{Log: log, Eventual: st, Origin: "crash-writer"})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close(ctx)
	// The topic exists before the first replicator starts.
	if _, err := js.Journal(journal.Key{Topic: topic, ID: "init"}).Mark(ctx, "init"); err != nil {
		t.Fatal(err)
	}
	parts, err := log.Partitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"replicator",
		"--kafka-brokers", strings.Join(brokers, ","), "--cassandra-hosts", strings.Join(hosts, ","),
		"--keyspace", keyspace, "--topic-prefixes", prefix, "--group-prefix", groupPrefix,
		"--http-addr", "", "--expiry-interval", "0", "--discovery-interval", "200ms",
		"--instance-id", "crash-0", "--session-timeout", "6s", "--shutdown-timeout", "20s",
		"--log-format", "text", "--log-level", "warn"}
	var logs []string
	startProc := func() *exec.Cmd {
		path := filepath.Join(dir, fmt.Sprintf("replicator-%d.log", len(logs)))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, path)
		return cmd
	}
	replicated := func() int64 {
		sum := int64(0)
		for _, p := range parts {
			if o, ok, err := st.Offset(ctx, topic, p); err == nil && ok {
				sum += o + 1
			}
		}
		return sum
	}
	dumpLogs := func() {
		for _, p := range logs[max(len(logs)-2, 0):] {
			b, _ := os.ReadFile(p)
			t.Logf("%s:\n%s", filepath.Base(p), b)
		}
	}

	w := replicatortest.Writer{Journals: js, Topic: topic, Prefix: "j", Count: 200, Events: 100, Workers: 20,
		Pause: 60 * time.Millisecond, DeleteEvery: 10, PurgeEvery: 40}
	type result struct {
		stats replicatortest.WriterStats
		err   error
	}
	written := make(chan result, 1)
	writeStart := time.Now()
	go func() {
		s, err := w.Run(ctx)
		written <- result{s, err}
	}()

	groups, err := kafka.NewGroups(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer groups.Close()
	proc := startProc()
	kills := 0
	var stats replicatortest.WriterStats
	writing := true
	for writing || kills < 10 {
		// Let the instance make some progress, then kill it at a random moment.
		before := replicated()
		deadline := time.Now().Add(20 * time.Second)
		for replicated() == before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(800)) * time.Millisecond)
		if err := proc.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = proc.Wait()
		kills++
		// Killed, the instance moves nothing: no partition is committed past its pointer2.
		committed, err := groups.Committed(ctx, groupPrefix+"-"+topic, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, c := range committed {
			if o, ok, err := st.Offset(ctx, topic, p); err != nil || !ok || c > o+1 {
				t.Errorf("kill %d: partition %d committed at %d, pointer2 %d (found %v, %v)", kills, p, c, o, ok, err)
			}
		}
		select {
		case r := <-written:
			if r.err != nil {
				t.Fatalf("writer: %v", r.err)
			}
			stats, writing = r.stats, false
			t.Logf("writer done in %s: %+v", time.Since(writeStart).Round(time.Millisecond), stats)
		default:
		}
		if ctx.Err() != nil {
			dumpLogs()
			t.Fatalf("out of time after %d kills", kills)
		}
		proc = startProc()
	}
	t.Logf("%d kills with SIGKILL", kills)

	// The last offset of every partition: a mark on each.
	end := map[int32]int64{}
	for _, p := range parts {
		id := ""
		for i := 0; id == ""; i++ {
			if c := fmt.Sprintf("end-%d", i); kafka.PartitionForKey(c, int32(len(parts))) == p {
				id = c
			}
		}
		po, err := js.Journal(journal.Key{Topic: topic, ID: id}).Mark(ctx, "end")
		if err != nil {
			t.Fatal(err)
		}
		end[p] = po.Offset
	}
	catchUp := time.Now()
	before := replicated()
	for {
		done := true
		for p, want := range end {
			if o, ok, err := st.Offset(ctx, topic, p); err != nil || !ok || o < want {
				done = false
			}
		}
		if done {
			break
		}
		if ctx.Err() != nil {
			dumpLogs()
			t.Fatalf("pointer2 did not reach %v", end)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("last instance caught up %d records in %s", replicated()-before, time.Since(catchUp).Round(time.Millisecond))

	// SIGTERM: commit and exit 0.
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			dumpLogs()
			t.Fatalf("after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = proc.Process.Kill()
		dumpLogs()
		t.Fatal("no exit within 30s of SIGTERM")
	}
	committed, err := groups.Committed(ctx, groupPrefix+"-"+topic, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range end {
		if committed[p] != o+1 {
			t.Errorf("partition %d committed at %d, want %d", p, committed[p], o+1)
		}
	}

	actions, err := replicatortest.ReadTopic(ctx, log, topic, end)
	if err != nil {
		t.Fatal(err)
	}
	want, err := replicatortest.Fold(actions)
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := replicatortest.Diff(ctx, st, keyspace, topic, want, end)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 30 {
			t.Errorf("... %d differences in all", len(diffs))
			break
		}
		t.Errorf("cassandra differs from the fold of kafka: %s", d)
	}
	if len(diffs) > 0 {
		dumpLogs()
	}
	live, events := 0, 0
	for _, j := range want {
		if j.Exists {
			live++
		}
		events += len(j.Events)
	}
	t.Logf("%d actions, %d journals (%d live, %d events in Cassandra), %d kills, %s in all",
		len(actions), len(want), live, events, kills, time.Since(began).Round(time.Millisecond))
}
