package main

import (
	"bytes"
	"context"
	"fmt"
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
// same record size, acks=all and idempotence on the same topic and broker.
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
	var side, lib, pp, ratio []float64
	for rep := range e.sz.reps {
		e.log.Printf("P2: rep %d/%d, %d appends by %d writers over %d journals", rep+1, e.sz.reps, e.sz.p2Records, len(writers), len(ids))
		s, err := appendN(e.sz.p2Records)
		if err != nil {
			return fmt.Errorf("P2: %w", err)
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
	}
	rw := r.add(sc, fmt.Sprintf("ratio: %d writers via sidecar ÷ ProducerPerformance", len(writers)), "×", ratio, 3)
	rw.target(">=", 0.7)
	r.Summary["throughput_ratio"] = round(rw.Value.Median, 3)
	r.add(sc, fmt.Sprintf("%d writers × 1 append in flight via sidecar", len(writers)), "records/s", side, 0)
	r.add(sc, fmt.Sprintf("%d goroutines × 1 append in flight, journal library in-process (no socket)", len(writers)), "records/s", lib, 0)
	r.add(sc, "ProducerPerformance (acks=all, idempotent)", "records/s", pp, 0)
	r.note("P2: record size %d bytes (key + value + journal.action header of a single-event Append with a %d-byte payload), the --record-size given to ProducerPerformance.", recSize, e.sz.payloadBytes)
	return nil
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
