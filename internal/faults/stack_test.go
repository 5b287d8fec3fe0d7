package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
)

// The private stack's addresses: none of them is the shared stack's.
const (
	kafkaPort      = "29092"
	kafkaCtlPort   = "29093"
	cqlPort        = "29042"
	storagePort    = "27000"
	sidecarHTTP    = "127.0.0.1:29095"
	replicatorHTTP = "127.0.0.1:29096"
	brokers        = "127.0.0.1:" + kafkaPort
	cqlHosts       = "127.0.0.1:" + cqlPort
)

// st is the private stack, nil when KJ_FAULTS is not 1.
var st *stack

type stack struct {
	root   string // the repository
	run    string // the private KJ_RUN
	socket string
	env    []string
	keep   bool // KJ_FAULTS_RUN: reuse and leave running
	log    io.Writer
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var booted []*stack
	defer func() {
		for _, s := range booted {
			if !s.keep {
				if err := s.sh("stop"); err != nil {
					fmt.Fprintln(os.Stderr, "faults: stopping a private stack:", err)
				}
			}
		}
	}()
	// KJ_FAULTS=1: the one-node stack (st); KJ_CLUSTER=1: the three-node cluster (cl). Either, both or
	// neither (every test skips, naming the variable).
	for _, want := range []struct {
		env  string
		make func() (*stack, error)
		boot func(*stack) error
		into **stack
	}{
		{"KJ_FAULTS", newStack, (*stack).boot, &st},
		{"KJ_CLUSTER", newCluster, (*stack).bootCluster, &cl},
	} {
		if os.Getenv(want.env) != "1" {
			continue
		}
		s, err := want.make()
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
		booted = append(booted, s)
		start := time.Now()
		if err := want.boot(s); err != nil {
			fmt.Fprintln(os.Stderr, "faults: private stack:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "faults: private stack up in %v (%s)\n", time.Since(start).Round(time.Millisecond), s.run)
		*want.into = s
	}
	return m.Run()
}

func newStack() (*stack, error) {
	root, mainRun, err := dirs()
	if err != nil {
		return nil, err
	}
	// A fixed place under the main run dir: a stack orphaned by a killed test binary is found
	// through its pid files and stopped by the next run.
	run, keep := filepath.Join(mainRun, "faults"), false
	if dir := os.Getenv("KJ_FAULTS_RUN"); dir != "" {
		run, keep = dir, true
	}
	return newPrivateStack(root, mainRun, run, keep,
		"KAFKA_PORT="+kafkaPort, "KAFKA_CONTROLLER_PORT="+kafkaCtlPort,
		"CASSANDRA_PORT="+cqlPort, "CASSANDRA_STORAGE_PORT="+storagePort,
		"SIDECAR_HTTP_ADDR="+sidecarHTTP, "REPLICATOR_HTTP_ADDR="+replicatorHTTP,
		"KAFKA_HEAP=384m", "CASSANDRA_HEAP=512m",
		// The replicator finds new topics within a second and runs no expiry job.
		"KJOURNAL_DISCOVERY_INTERVAL=1s", "KJOURNAL_EXPIRY_INTERVAL=0s")
}

// dirs returns the repository and the shared stack's run dir.
func dirs() (root, mainRun string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	mainRun = os.Getenv("KJ_RUN")
	if mainRun == "" {
		mainRun = filepath.Join(root, ".run")
	}
	return root, mainRun, nil
}

// newPrivateStack is a stack.sh environment of its own under run: none of the shared stack's
// settings, the given ones (ports, heaps) instead.
func newPrivateStack(root, mainRun, run string, keep bool, settings ...string) (*stack, error) {
	s := &stack{root: root, run: run, keep: keep, log: os.Stderr}
	s.socket = filepath.Join(s.run, "sidecar", "kjournal.sock")
	if err := os.MkdirAll(s.run, 0o755); err != nil {
		return nil, err
	}
	// The jars: stack.sh keys its cache by the pom's checksum, so the main run's cache is reused as is.
	cache := filepath.Join(s.run, "cache")
	if _, err := os.Lstat(cache); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join(mainRun, "cache"), cache); err != nil {
			return nil, err
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "KAFKA_"), strings.HasPrefix(name, "CASSANDRA_"),
			strings.HasPrefix(name, "KJOURNAL_"), strings.HasPrefix(name, "KJ_"),
			name == "SIDECAR_HTTP_ADDR", name == "REPLICATOR_HTTP_ADDR":
			continue // the shared stack's settings
		}
		s.env = append(s.env, kv)
	}
	s.env = append(append(s.env, "KJ_RUN="+s.run, "KJOURNAL_SOCKET="+s.socket), settings...)
	return s, nil
}

// fresh stops what a previous run under the same dir left and removes the services' data.
func (s *stack) fresh() error {
	if err := s.sh("stop"); err != nil {
		return err
	}
	for _, d := range []string{"kafka", "cassandra", "replicator", "sidecar",
		"kafka1", "kafka2", "kafka3", "cassandra1", "cassandra2", "cassandra3"} {
		if err := os.RemoveAll(filepath.Join(s.run, d)); err != nil {
			return err
		}
	}
	return nil
}

// build builds kjournal into the stack's bin dir (where stack.sh also puts it) and returns its path.
func (s *stack) build() (string, error) {
	bin := filepath.Join(s.run, "bin", "kjournal")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kjournal")
	build.Dir, build.Stdout, build.Stderr = s.root, s.log, s.log
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// boot stops what a previous run left, starts fresh servers, creates the schema, starts the sidecar.
func (s *stack) boot() error {
	if !s.keep {
		if err := s.fresh(); err != nil {
			return err
		}
	}
	if err := s.sh("start", "kafka", "cassandra"); err != nil {
		return err
	}
	bin, err := s.build()
	if err != nil {
		return err
	}
	schema := exec.Command(bin, "schema", "--cassandra-hosts", cqlHosts)
	schema.Env = s.env
	if out, err := schema.CombinedOutput(); err != nil {
		return fmt.Errorf("kjournal schema: %w\n%s", err, out)
	}
	return s.sh("start", "sidecar")
}

// sh runs deploy/local/stack.sh with the private stack's environment.
func (s *stack) sh(args ...string) error {
	cmd := exec.Command("bash", append([]string{filepath.Join(s.root, "deploy", "local", "stack.sh")}, args...)...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return fmt.Errorf("stack.sh %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// needStack returns the private stack or skips the test, naming KJ_FAULTS.
func needStack(t *testing.T) *stack {
	t.Helper()
	if st == nil {
		t.Skip("fault test: set KJ_FAULTS=1 (make test sets it) to run it on a private stack of its own")
	}
	return st
}

// must runs stack.sh and fails the test on error; it returns how long it took.
func (s *stack) must(t *testing.T, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := s.sh(args...); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("stack.sh %s: %v", strings.Join(args, " "), d.Round(time.Millisecond))
	return d
}

// startWith starts services with extra environment variables (e.g. KJOURNAL_ON_POISON=skip).
func (s *stack) startWith(t *testing.T, extra []string, services ...string) {
	t.Helper()
	saved := s.env
	s.env = append(append([]string(nil), saved...), extra...)
	defer func() { s.env = saved }()
	s.must(t, append([]string{"start"}, services...)...)
}

func (s *stack) running(name string) bool { return s.sh("running", name) == nil }

func (s *stack) pid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.run, name, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// serverLog returns a service's log file.
func (s *stack) serverLog(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.run, name, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rssKiB returns the VmRSS of a process.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// httpGet returns the status and body of GET http://addr/path (status 0 when unreachable).
func httpGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric sums the samples of a Prometheus metric whose label set contains every label in want
// (e.g. `topic="journal_x"`).
func metric(addr, name string, want ...string) (float64, bool) {
	code, body := httpGet(addr, "/metrics")
	if code != 200 {
		return 0, false
	}
	var sum float64
	found := false
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(rest, w) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// eventually polls cond every 200ms until it is true or d passed; it returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// openCassandra opens the private Cassandra's read side, to check what the replicator wrote.
func openCassandra(t *testing.T) *cassandra.Store { return openCassandraAt(t, cqlHosts) }

// openCassandraAt opens the read side of the Cassandra at hosts (comma-separated).
func openCassandraAt(t *testing.T, hosts string) *cassandra.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := cassandra.Open(ctx, cassandra.Config{Hosts: strings.Split(hosts, ","), Keyspace: "journal",
		DisableKeyspaceAutoCreate: true, DisableTableAutoCreate: true, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// cassandraSeqNrs returns the seqNrs Cassandra holds for a journal (after its delete_to).
func cassandraSeqNrs(ctx context.Context, s *cassandra.Store, topic, id string) ([]int64, error) {
	var out []int64
	for e, err := range s.Read(ctx, journal.Key{Topic: topic, ID: id}, journal.MinSeqNr) {
		if err != nil {
			return nil, err
		}
		out = append(out, int64(e.SeqNr))
	}
	return out, nil
}
