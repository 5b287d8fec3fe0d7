package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
)

// sizes are the knobs of every scenario. full is the sizes; tiny runs each scenario in
// seconds, so that a test keeps the bench code from rotting.
type sizes struct {
	name string
	reps int

	p1Appends, p1Warmup, payloadBytes int

	p2Writers, p2Journals, p2Records, p2Warmup, ppRecords int

	p3Journals, p3Replicated, p3Unreplicated, p3Conns, p3Warmup int

	p4Rate     int
	p4Duration time.Duration
	p4Journals int
	p4Backlog  int
	p4MaxHalf  int // caps the half-capacity rate (0: none), so that the tiny size stays light

	p5Reads int

	p6IdleConns, p6Events, p6EventsPerAppend int
	p6Hold                                   time.Duration

	p7Events                 int
	p8Subscribers, p8Appends int
}

var fullSizes = sizes{
	name: "full", reps: 3,
	p1Appends: 2000, p1Warmup: 200, payloadBytes: 200,
	p2Writers: 64, p2Journals: 1000, p2Records: 60000, p2Warmup: 5000, ppRecords: 400000,
	p3Journals: 1000, p3Replicated: 20, p3Unreplicated: 5, p3Conns: 8, p3Warmup: 100,
	p4Rate: 5000, p4Duration: 30 * time.Second, p4Journals: 1000, p4Backlog: 60000,
	p5Reads:     200,
	p6IdleConns: 1000, p6Events: 200000, p6EventsPerAppend: 1000, p6Hold: 10 * time.Second,
	p7Events:      100000,
	p8Subscribers: 100, p8Appends: 2000,
}

var tinySizes = sizes{
	name: "tiny", reps: 1,
	p1Appends: 40, p1Warmup: 10, payloadBytes: 200,
	p2Writers: 8, p2Journals: 40, p2Records: 1000, p2Warmup: 100, ppRecords: 5000,
	p3Journals: 20, p3Replicated: 4, p3Unreplicated: 2, p3Conns: 2, p3Warmup: 5,
	p4Rate: 200, p4Duration: 2 * time.Second, p4Journals: 20, p4Backlog: 400, p4MaxHalf: 400,
	p5Reads:     10,
	p6IdleConns: 50, p6Events: 3000, p6EventsPerAppend: 500, p6Hold: time.Second,
	p7Events:      2000,
	p8Subscribers: 4, p8Appends: 40,
}

type envConfig struct {
	size     string
	reps     int
	kjournal string
	python   string
	// nodeDriver is P2's Node driver script; "" for the one in clients/node/bench.
	nodeDriver string
	// stackSidecar makes P1, P2 and P5 go through the stack's sidecar ($KJOURNAL_SOCKET) instead of
	// one the bench starts with the default flags from the kjournal binary.
	stackSidecar bool
}

// env is what every scenario uses: the stack's addresses, the binaries, an in-process journal library
// for seeding data (the sidecar's own code, without the socket), and the Cassandra store for pointer2.
type env struct {
	log    *log.Logger
	sz     sizes
	root   string // repository root
	runDir string // $KJ_RUN
	tmpDir string
	runID  string // suffix of this run's topics and journal ids

	brokers, hosts []string
	socket         string // the stack's sidecar ($KJOURNAL_SOCKET) with stackSidecar; "" to start one of our own
	kjournal       string
	python         string
	pyScript       string
	pyPipelined    string // the Python driver of P2's pipelined load
	node           string // node, "" when it or the built Node client is missing
	nodePipelined  string // the Node driver of P2's pipelined load
	java           string
	topic          string   // the default topic of the sidecars we start
	replicatorArgs []string // more flags for our replicators
	sidecarArgs    []string // more flags for our sidecars

	klog     *kafka.Log
	store    *cassandra.Store
	journals *journal.Journals

	// ownSidecar is the sidecar started for P1, P2 and P5 (unless stackSidecar).
	ownSidecar *proc
}

func newEnv(ctx context.Context, logger *log.Logger, cfg envConfig) (*env, error) {
	e := &env{log: logger, topic: "journal"}
	switch cfg.size {
	case "full", "":
		e.sz = fullSizes
	case "tiny":
		e.sz = tinySizes
	default:
		return nil, fmt.Errorf("-size %q: want full or tiny", cfg.size)
	}
	if cfg.reps > 0 {
		e.sz.reps = cfg.reps
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	e.root = root
	e.runDir = envOr("KJ_RUN", filepath.Join(root, ".run"))
	e.pyScript = filepath.Join(root, "clients/python/bench/append_latency.py")
	e.pyPipelined = filepath.Join(root, "clients/python/bench/append_pipelined.py")
	e.nodePipelined = cfg.nodeDriver
	if e.nodePipelined == "" {
		e.nodePipelined = filepath.Join(root, "clients/node/bench/append_pipelined.mjs")
	}
	if node, err := exec.LookPath("node"); err == nil {
		// The driver imports the built client next to it: ../dist.
		if _, err := os.Stat(filepath.Join(filepath.Dir(e.nodePipelined), "../dist/index.js")); err == nil {
			e.node = node
		}
	}
	e.runID = randomHex(4)

	e.brokers = splitList(os.Getenv("KAFKA_BROKERS"))
	e.hosts = splitList(os.Getenv("CASSANDRA_HOSTS"))
	if len(e.brokers) == 0 || len(e.hosts) == 0 {
		return nil, errors.New("set KAFKA_BROKERS and CASSANDRA_HOSTS (deploy/local/with-stack.sh does)")
	}
	if cfg.stackSidecar {
		e.socket = strings.TrimSpace(os.Getenv("KJOURNAL_SOCKET"))
		if _, err := os.Stat(e.socket); e.socket == "" || err != nil {
			return nil, fmt.Errorf("the stack's sidecar: KJOURNAL_SOCKET=%q is not a socket", e.socket)
		}
	}

	e.kjournal = cfg.kjournal
	if e.kjournal == "" {
		e.kjournal = filepath.Join(e.runDir, "bin", "kjournal")
		if _, err := os.Stat(e.kjournal); err != nil {
			logger.Printf("building %s", e.kjournal)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", e.kjournal, "./cmd/kjournal")
			cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("build kjournal: %w", err)
			}
		}
	}
	e.python = cfg.python
	if e.python == "" {
		e.python = filepath.Join(e.runDir, "bench-venv", "bin", "python")
	}
	e.java = findJava()

	if e.tmpDir, err = os.MkdirTemp("", "kjournal-bench-"); err != nil {
		return nil, err
	}
	if e.klog, err = kafka.New(kafka.Config{Brokers: e.brokers}); err != nil {
		e.close()
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if e.store, err = cassandra.Open(ctx, cassandra.Config{Hosts: e.hosts}); err != nil {
		e.close()
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	// The seeding library needs no head cache: it only appends.
	e.journals, err = journal.New(journal.Config{Log: e.klog, Eventual: e.store, HeadCache: journal.HeadCacheConfig{Disabled: true}})
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	e.ownSidecar.stop()
	if e.journals != nil {
		_ = e.journals.Close(context.Background())
	}
	if e.klog != nil {
		_ = e.klog.Close()
	}
	if e.store != nil {
		_ = e.store.Close()
	}
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}

// sidecarSocket is the socket of the sidecar P1, P2 and P5 go through: one we start with the default
// flags (from the binary just built, serving nobody else), or the stack's.
func (e *env) sidecarSocket(ctx context.Context) (string, error) {
	if e.socket != "" {
		return e.socket, nil
	}
	if e.ownSidecar == nil {
		p, err := e.startSidecar(ctx, "default", sidecarOptions{headCache: true})
		if err != nil {
			return "", err
		}
		e.ownSidecar = p
	}
	return e.ownSidecar.socket, nil
}

// sidecarPID is the process id of the sidecar sidecarSocket returned: ours, or the stack's from its
// pid file.
func (e *env) sidecarPID() (int, error) {
	if e.socket == "" {
		return e.ownSidecar.pid(), nil
	}
	b, err := os.ReadFile(filepath.Join(e.runDir, "sidecar", "pid"))
	if err != nil {
		return 0, fmt.Errorf("the stack's sidecar: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// name returns a fresh topic or journal id of this run.
func (e *env) name(prefix string) string {
	return "bench_" + prefix + "_" + e.runID + "_" + randomHex(2)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/kjournal/kjournal\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run bench inside the kjournal repository")
		}
		dir = parent
	}
}

func findJava() string {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		if _, err := os.Stat(filepath.Join(h, "bin/java")); err == nil {
			return filepath.Join(h, "bin/java")
		}
	}
	if _, err := os.Stat("/usr/lib/jvm/java-17-openjdk-amd64/bin/java"); err == nil {
		return "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
	}
	return "java"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomPayload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
