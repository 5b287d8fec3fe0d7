package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// P2: records/s of concurrent writers appending single-event batches across many journals through
// one sidecar, each writer on a connection of its own and one append in flight at a time (as an
// application that awaits each append), ÷ records/s of Kafka's own ProducerPerformance with the
// same record size, acks=all and idempotence on the same topic and broker. Then the pipelined load:
// the Python AsyncClient and the Node client, each with one append in flight per journal over 4
// connections, ÷ the same ProducerPerformance run. The sidecar's CPU time (utime + stime) per
// append is taken from /proc over each load.
func (e *env) runP2(ctx context.Context, r *report) error {
	const sc = "P2 append throughput"
	socket, err := e.sidecarSocket(ctx)
	if err != nil {
		return err
	}
	topic := e.name("p2")
	payload := randomPayload(e.sz.payloadBytes)
	recSize, err := recordSize(journal.Key{Topic: topic, ID: "bench_p2_0000"}, payload)
	if err != nil {
		return err
	}
	ids := make([]string, e.sz.p2Journals)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s_%04d", e.name("p2j"), i)
	}
	writers := make([]*sockClient, e.sz.p2Writers)
	for i := range writers {
		if writers[i], err = dialSidecar(ctx, socket); err != nil {
			return fmt.Errorf("sidecar %s: %w", socket, err)
		}
		defer writers[i].Close()
	}
	seqs := make([]int64, len(ids)) // next seq_nr - 1 per journal; journal j belongs to writer j % writers
	pid, err := e.sidecarPID()
	if err != nil {
		return err
	}
	// cpuPerAppend runs load, which makes n appends, and returns the sidecar's CPU µs per append.
	cpuPerAppend := func(n int, load func() error) (float64, error) {
		before, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		if err := load(); err != nil {
			return 0, err
		}
		after, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		return float64((after - before).Microseconds()) / float64(n), nil
	}

	// appendN makes the writers append n records in total and returns records/s.
	appendN := func(n int) (float64, error) {
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		errs := make(chan error, len(writers))
		start := time.Now()
		for w, c := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []int
				for j := w; j < len(ids); j += len(writers) {
					mine = append(mine, j)
				}
				for k := 0; left.Add(-1) >= 0; k++ {
					j := mine[k%len(mine)]
					seqs[j]++
					ev := []protocol.Event{{SeqNr: seqs[j], Payload: payload, PayloadType: protocol.PayloadBinary}}
					if _, err := c.appendEvents(ctx, topic, ids[j], ev); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		select {
		case err := <-errs:
			return 0, err
		default:
		}
		return float64(n) / elapsed.Seconds(), nil
	}

	// The same load on the journal library in this process: the producer's ceiling for this many
	// appenders with one append in flight each, without the socket.
	libN := func(n int) (float64, error) {
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		errs := make(chan error, len(writers))
		libSeqs := make([]int64, len(ids))
		start := time.Now()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; left.Add(-1) >= 0; k++ {
					j := w + (k*len(writers))%(len(ids)-len(ids)%len(writers))
					libSeqs[j]++
					ev := []journal.Event{{SeqNr: journal.SeqNr(libSeqs[j]), Payload: journal.BinaryPayload(payload)}}
					if _, err := e.journals.Journal(journal.Key{Topic: topic, ID: ids[j] + "-lib"}).Append(ctx, ev, journal.AppendOptions{}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		select {
		case err := <-errs:
			return 0, err
		default:
		}
		return float64(n) / elapsed.Seconds(), nil
	}

	e.log.Printf("P2: warm-up, %d appends by %d writers; ProducerPerformance %d records", e.sz.p2Warmup, len(writers), e.sz.ppRecords/4)
	if _, err := appendN(e.sz.p2Warmup); err != nil {
		return fmt.Errorf("P2 warm-up: %w", err)
	}
	if _, err := libN(e.sz.p2Warmup); err != nil {
		return fmt.Errorf("P2 warm-up: %w", err)
	}
	if _, err := e.producerPerformance(ctx, topic, max(e.sz.ppRecords/4, 1000), recSize); err != nil {
		return fmt.Errorf("P2 warm-up: %w", err)
	}
	drivers := e.pipelinedDrivers(socket, topic)
	for _, d := range drivers {
		if _, err := d.run(ctx, e.name("p2w"+d.name[:2]), e.sz.p2Warmup); err != nil {
			return fmt.Errorf("P2 warm-up: %w", err)
		}
	}
	var side, sideCPU, lib, pp, ratio []float64
	piped := make([]struct{ rate, cpu, ratio []float64 }, len(drivers))
	for rep := range e.sz.reps {
		e.log.Printf("P2: rep %d/%d, %d appends by %d writers over %d journals", rep+1, e.sz.reps, e.sz.p2Records, len(writers), len(ids))
		var s float64
		cpu, err := cpuPerAppend(e.sz.p2Records, func() (err error) {
			s, err = appendN(e.sz.p2Records)
			return err
		})
		if err != nil {
			return fmt.Errorf("P2: %w", err)
		}
		sideCPU = append(sideCPU, cpu)
		rates := make([]float64, len(drivers))
		for i, d := range drivers {
			e.log.Printf("P2: rep %d/%d, %d appends by the %s, %d in flight over %d connections", rep+1, e.sz.reps, e.sz.p2Records, d.name, len(ids), pipelinedConns)
			cpu, err := cpuPerAppend(e.sz.p2Records, func() (err error) {
				rates[i], err = d.run(ctx, e.name("p2p"+d.name[:2]), e.sz.p2Records)
				return err
			})
			if err != nil {
				return fmt.Errorf("P2: %w", err)
			}
			piped[i].rate, piped[i].cpu = append(piped[i].rate, rates[i]), append(piped[i].cpu, cpu)
		}
		e.log.Printf("P2: rep %d/%d, %d appends by %d goroutines on the journal library in-process", rep+1, e.sz.reps, e.sz.p2Records, len(writers))
		l, err := libN(e.sz.p2Records)
		if err != nil {
			return fmt.Errorf("P2: %w", err)
		}
		lib = append(lib, l)
		e.log.Printf("P2: rep %d/%d, ProducerPerformance %d records of %d bytes", rep+1, e.sz.reps, e.sz.ppRecords, recSize)
		k, err := e.producerPerformance(ctx, topic, e.sz.ppRecords, recSize)
		if err != nil {
			return fmt.Errorf("P2: %w", err)
		}
		side, pp, ratio = append(side, s), append(pp, k), append(ratio, s/k)
		for i := range drivers {
			piped[i].ratio = append(piped[i].ratio, rates[i]/k)
		}
	}
	rw := r.add(sc, fmt.Sprintf("ratio: %d writers via sidecar ÷ ProducerPerformance", len(writers)), "×", ratio, 3)
	rw.target(">=", 0.5)
	r.Summary["throughput_ratio"] = round(rw.Value.Median, 3)
	for i, d := range drivers {
		rw := r.add(sc, fmt.Sprintf("ratio: %s, %d in flight over %d connections ÷ ProducerPerformance", d.name, len(ids), pipelinedConns), "×", piped[i].ratio, 3)
		rw.target(">=", 0.7)
		r.Summary[d.key] = round(rw.Value.Median, 3)
	}
	rw = r.add(sc, fmt.Sprintf("sidecar CPU per append (utime + stime), %d writers × 1 in flight", len(writers)), "µs", sideCPU, 1)
	rw.target("<=", 10)
	r.Summary["sidecar_cpu_us_per_append"] = round(rw.Value.Median, 1)
	for i, d := range drivers {
		r.add(sc, fmt.Sprintf("sidecar CPU per append, %s pipelined", d.name), "µs", piped[i].cpu, 1)
	}
	r.add(sc, fmt.Sprintf("%d writers × 1 append in flight via sidecar", len(writers)), "records/s", side, 0)
	for i, d := range drivers {
		r.add(sc, fmt.Sprintf("%s, %d appends in flight over %d connections via sidecar", d.name, len(ids), pipelinedConns), "records/s", piped[i].rate, 0)
	}
	r.add(sc, fmt.Sprintf("%d goroutines × 1 append in flight, journal library in-process (no socket)", len(writers)), "records/s", lib, 0)
	r.add(sc, "ProducerPerformance (acks=all, idempotent)", "records/s", pp, 0)
	r.note("P2: record size %d bytes (key + value + journal.action header of a single-event Append with a %d-byte payload), the --record-size given to ProducerPerformance.", recSize, e.sz.payloadBytes)
	return nil
}

// pipelinedConns is the number of connections each pipelined driver spreads its journals over.
const pipelinedConns = 4

// pipelinedDriver is a client program that keeps one append in flight per journal (P2, pipelined).
type pipelinedDriver struct {
	name string // "Python AsyncClient", "Node client"
	key  string // its bench.json key
	run  func(ctx context.Context, prefix string, n int) (float64, error)
}

// pipelinedDrivers are the drivers that can run here: the Python one with the bench's python, the
// Node one when node and the built client (clients/node/dist, `make node-build`) are there.
func (e *env) pipelinedDrivers(socket, topic string) []pipelinedDriver {
	cmd := func(prog, script string) func(ctx context.Context, prefix string, n int) (float64, error) {
		return func(ctx context.Context, prefix string, n int) (float64, error) {
			return e.runPipelined(ctx, prog, script, "--socket", socket, "--topic", topic, "--journal-prefix", prefix,
				"--journals", strconv.Itoa(e.sz.p2Journals), "--connections", strconv.Itoa(pipelinedConns),
				"--count", strconv.Itoa(n), "--payload-bytes", strconv.Itoa(e.sz.payloadBytes))
		}
	}
	var ds []pipelinedDriver
	if _, err := os.Stat(e.python); err == nil {
		ds = append(ds, pipelinedDriver{"Python AsyncClient", "throughput_ratio_pipelined_python", cmd(e.python, e.pyPipelined)})
	} else {
		e.log.Printf("P2: no python at %s: the Python pipelined load is skipped", e.python)
	}
	if e.node != "" {
		ds = append(ds, pipelinedDriver{"Node client", "throughput_ratio_pipelined_node", cmd(e.node, e.nodePipelined)})
	} else {
		e.log.Printf("P2: no node or no built Node client (make node-build): the Node pipelined load is skipped")
	}
	return ds
}

// runPipelined runs a pipelined driver and returns the records/s it printed.
func (e *env) runPipelined(ctx context.Context, prog, script string, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, prog, append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	var res struct {
		RecordsPerS float64 `json:"records_per_s"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.RecordsPerS <= 0 {
		return 0, fmt.Errorf("%s: output %q: %v", script, stdout.String(), err)
	}
	return res.RecordsPerS, nil
}

var ppResult = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec`)

// producerPerformance runs org.apache.kafka.tools.ProducerPerformance from the stack's kafka-tools
// jar with the java stack.sh uses, and returns its records/s.
func (e *env) producerPerformance(ctx context.Context, topic string, records, size int) (float64, error) {
	libs := filepath.Join(e.runDir, "cache", "kafka", "libs")
	cfgDir := filepath.Join(e.root, "deploy", "local", "kafka")
	args := []string{"-Xmx512m",
		"-Dlog4j.configuration=file:" + filepath.Join(cfgDir, "log4j.properties"),
		"-Dlog4j2.configurationFile=" + filepath.Join(cfgDir, "log4j2.properties"),
		"-cp", libs + "/*",
		"org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic,
		"--num-records", strconv.Itoa(records),
		"--record-size", strconv.Itoa(size),
		"--throughput", "-1",
		"--bootstrap-server", strings.Join(e.brokers, ","),
		"--command-property", "acks=all", "enable.idempotence=true",
	}
	cmd := exec.CommandContext(ctx, e.java, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ProducerPerformance: %w\n%s", err, lastLines(out.String(), 20))
	}
	m := ppResult.FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("ProducerPerformance: no result line in\n%s", lastLines(out.String(), 20))
	}
	last := m[len(m)-1] // the final summary follows the periodic reports
	if n, _ := strconv.Atoi(last[1]); n != records {
		return 0, fmt.Errorf("ProducerPerformance sent %s records, want %d", last[1], records)
	}
	return strconv.ParseFloat(last[2], 64)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
