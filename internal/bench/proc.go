package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// proc is a kjournal service the bench started itself: a sidecar on a socket and HTTP port of its own,
// for the scenarios that need other flags than the stack's sidecar (head cache off) or a process of
// their own to measure (RSS, consumers opened); or a replicator for one topic, which the bench can
// pause without touching the stack's services.
type proc struct {
	name     string
	cmd      *exec.Cmd
	socket   string // sidecar only
	httpAddr string
	logPath  string
	exited   chan struct{}
	waitErr  error
}

type sidecarOptions struct {
	headCache bool
	args      []string // more flags
}

// startSidecar starts `kjournal sidecar` and waits until /readyz answers 200 and the socket accepts.
func (e *env) startSidecar(ctx context.Context, name string, opts sidecarOptions) (*proc, error) {
	return e.startProc(ctx, name, func(dir, httpAddr string) ([]string, string) {
		socket := filepath.Join(dir, "kjournal.sock")
		args := []string{"sidecar",
			"--socket", socket,
			"--kafka-brokers", strings.Join(e.brokers, ","),
			"--cassandra-hosts", strings.Join(e.hosts, ","),
			"--http-addr", httpAddr,
			"--topic", e.topic,
			"--head-cache=" + strconv.FormatBool(opts.headCache),
			"--log-format", "text",
			"--log-level", "warn",
		}
		args = append(args, e.sidecarArgs...)
		return append(args, opts.args...), socket
	})
}

// startReplicator starts `kjournal replicator` for the topics starting with prefix only (consumer
// groups of this run's own), and waits until /readyz answers 200. The stack's replicator replicates
// the topics starting with "journal", which the bench's topics do not.
func (e *env) startReplicator(ctx context.Context, prefix string) (*proc, error) {
	return e.startProc(ctx, "replicator", func(dir, httpAddr string) ([]string, string) {
		return append([]string{"replicator",
			"--kafka-brokers", strings.Join(e.brokers, ","),
			"--cassandra-hosts", strings.Join(e.hosts, ","),
			"--topic-prefixes", prefix,
			"--group-prefix", "bench-replicator-" + e.runID,
			"--http-addr", httpAddr,
			"--discovery-interval", "500ms",
			"--expiry-interval", "0",
			"--log-format", "text",
			"--log-level", "warn",
		}, e.replicatorArgs...), ""
	})
}

func (e *env) startProc(ctx context.Context, name string, argsOf func(dir, httpAddr string) (args []string, socket string)) (*proc, error) {
	dir, err := os.MkdirTemp(e.tmpDir, name+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &proc{
		name:     name,
		httpAddr: "127.0.0.1:" + strconv.Itoa(port),
		logPath:  filepath.Join(dir, name+".log"),
		exited:   make(chan struct{}),
	}
	args, socket := argsOf(dir, p.httpAddr)
	p.socket = socket
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p.cmd = exec.Command(e.kjournal, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Its environment must not override the flags (KJOURNAL_SOCKET is set by with-stack.sh).
	p.cmd.Env = filterEnv(os.Environ(), "KJOURNAL_", "KAFKA_BROKERS", "CASSANDRA_HOSTS")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", e.kjournal, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if p.ready(ctx) {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited (%v); log %s:\n%s", name, p.waitErr, p.logPath, tail(p.logPath, 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready in 90s; log %s:\n%s", name, p.logPath, tail(p.logPath, 20))
		}
	}
}

func (p *proc) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	if p.socket == "" {
		return true
	}
	c, err := net.DialTimeout("unix", p.socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// rssMiB is the resident set size of pid from /proc (VmRSS), in MiB.
func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// metricSum scrapes http://addr/metrics and sums the samples of the counter or gauge name whose
// labels include every pair of match; for a histogram, the sum of its observations, or their count
// when name has the suffix _count.
func metricSum(ctx context.Context, addr, name string, match map[string]string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("parse %s/metrics: %w", addr, err)
	}
	fam, ok := fams[strings.TrimSuffix(name, "_count")]
	if !ok {
		return 0, nil // not observed yet
	}
	var sum float64
next:
	for _, m := range fam.GetMetric() {
		for k, v := range match {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Histogram != nil && strings.HasSuffix(name, "_count"):
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Histogram != nil:
			sum += m.GetHistogram().GetSampleSum()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func filterEnv(env []string, drop ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on every Linux port Go
// runs on).
const clockTicks = 100

// cpuTime is the CPU time pid used so far, user and system (utime + stime of /proc/PID/stat).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) in parentheses; utime and stime
	// are the 14th and 15th of the line.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
