package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// P3: the recovery of many entities at once — every journal has most of its events in Cassandra and a
// few unreplicated ones in Kafka (replicator paused) — read in full by concurrent reads through a
// fresh sidecar with the head cache on, and with it off. The head cache answers every read's head from
// one shared consumer per topic; without it each read scans its partition from pointer2 to its marker
// with a pooled consumer of its own.
func (e *env) runP3(ctx context.Context, r *report) error {
	const sc = "P3 recovery"
	topic := e.name("p3")
	ids := make([]string, e.sz.p3Journals)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s_%04d", e.name("p3j"), i)
	}
	payload := randomPayload(e.sz.payloadBytes)
	want := int64(e.sz.p3Replicated + e.sz.p3Unreplicated)

	e.log.Printf("P3: %d journals × %d events, replicated by a replicator of the topic's own", len(ids), e.sz.p3Replicated)
	last, err := e.appendAll(ctx, topic, ids, 1, e.sz.p3Replicated, e.sz.p3Replicated, payload)
	if err != nil {
		return fmt.Errorf("P3 seed: %w", err)
	}
	if err := e.replicate(ctx, topic, last); err != nil {
		return fmt.Errorf("P3 seed: %w", err)
	}
	// The replicator is stopped now: what follows stays in Kafka only.
	e.log.Printf("P3: %d journals × %d unreplicated single-event appends", len(ids), e.sz.p3Unreplicated)
	if _, err := e.appendAll(ctx, topic, ids, e.sz.p3Replicated+1, e.sz.p3Unreplicated, 1, payload); err != nil {
		return fmt.Errorf("P3 head: %w", err)
	}

	type pass struct {
		wall      time.Duration // the reads in a sidecar that just started (a pod recovering its entities)
		warm      time.Duration // the same reads again in the same sidecar
		consumers float64       // consumers the sidecar opened during the first round
	}
	readAll := func(conns []*sockClient, mode string, ids []string) (time.Duration, error) {
		return concurrently(ids, func(i int, id string) error {
			res, err := conns[i%len(conns)].readAll(ctx, topic, id, 256)
			switch {
			case err != nil:
				return fmt.Errorf("head cache %s: %w", mode, err)
			case res.events != int(want) || res.highest != want:
				return fmt.Errorf("head cache %s: %d events up to %d, highest %d; want %d", mode, res.events, res.lastSeq, res.highest, want)
			}
			return nil
		})
	}
	readPass := func(headCache bool, ids []string) (pass, error) {
		mode := map[bool]string{true: "on", false: "off"}[headCache]
		p, err := e.startSidecar(ctx, "p3-cache-"+mode, sidecarOptions{headCache: headCache})
		if err != nil {
			return pass{}, err
		}
		defer p.stop()
		conns := make([]*sockClient, e.sz.p3Conns)
		for i := range conns {
			if conns[i], err = dialSidecar(ctx, p.socket); err != nil {
				return pass{}, err
			}
			defer conns[i].Close()
		}
		var res pass
		if res.wall, err = readAll(conns, mode, ids); err != nil {
			return pass{}, err
		}
		for _, purpose := range []string{kafka.PurposeScan, kafka.PurposeFollow} {
			v, err := metricSum(ctx, p.httpAddr, "kjournal_kafka_consumers_opened_total", map[string]string{"purpose": purpose})
			if err != nil {
				return pass{}, err
			}
			res.consumers += v
		}
		if res.warm, err = readAll(conns, mode, ids); err != nil {
			return pass{}, err
		}
		return res, nil
	}

	e.log.Printf("P3: warm-up, %d reads per mode", e.sz.p3Warmup)
	warmIDs := ids[:min(e.sz.p3Warmup, len(ids))]
	for _, on := range []bool{false, true} {
		if _, err := readPass(on, warmIDs); err != nil {
			return fmt.Errorf("P3 warm-up: %w", err)
		}
	}
	if _, err := e.cassandraFloor(ctx, topic, warmIDs, e.sz.p3Replicated); err != nil {
		return fmt.Errorf("P3 warm-up: %w", err)
	}
	if _, err := e.consumerPerRead(ctx, topic, warmIDs, int(want)); err != nil {
		return fmt.Errorf("P3 warm-up: %w", err)
	}
	var off, on, speedup, offWarm, onWarm, speedupWarm, consOff, consOn []float64
	var floor, vsFloor, vsFloorWarm, perRead, vsPerRead []float64
	for rep := range e.sz.reps {
		e.log.Printf("P3: rep %d/%d, %d concurrent full reads, head cache off", rep+1, e.sz.reps, len(ids))
		a, err := readPass(false, ids)
		if err != nil {
			return fmt.Errorf("P3: %w", err)
		}
		e.log.Printf("P3: rep %d/%d, %d concurrent full reads, head cache on", rep+1, e.sz.reps, len(ids))
		b, err := readPass(true, ids)
		if err != nil {
			return fmt.Errorf("P3: %w", err)
		}
		e.log.Printf("P3: rep %d/%d, the same rows read straight from Cassandra (gocql)", rep+1, e.sz.reps)
		f, err := e.cassandraFloor(ctx, topic, ids, e.sz.p3Replicated)
		if err != nil {
			return fmt.Errorf("P3: %w", err)
		}
		e.log.Printf("P3: rep %d/%d, the same recoveries with a fresh Kafka consumer each", rep+1, e.sz.reps)
		c, err := e.consumerPerRead(ctx, topic, ids, int(want))
		if err != nil {
			return fmt.Errorf("P3: %w", err)
		}
		floor, perRead = append(floor, ms(f)), append(perRead, ms(c))
		vsFloor, vsFloorWarm = append(vsFloor, float64(b.wall)/float64(f)), append(vsFloorWarm, float64(b.warm)/float64(f))
		vsPerRead = append(vsPerRead, float64(c)/float64(b.wall))
		off, on = append(off, ms(a.wall)), append(on, ms(b.wall))
		speedup = append(speedup, float64(a.wall)/float64(b.wall))
		offWarm, onWarm = append(offWarm, ms(a.warm)), append(onWarm, ms(b.warm))
		speedupWarm = append(speedupWarm, float64(a.warm)/float64(b.warm))
		consOff, consOn = append(consOff, a.consumers), append(consOn, b.consumers)
	}
	rw := r.add(sc, fmt.Sprintf("speedup: wall time head cache off ÷ on, %d concurrent full reads, fresh sidecar", len(ids)), "×", speedup, 1)
	rw.target(">=", 20)
	r.Summary["recovery_speedup"] = round(rw.Value.Median, 2)
	rw = r.add(sc, "ratio: wall time via sidecar (head cache on, fresh sidecar) ÷ the same rows straight from Cassandra", "×", vsFloor, 2)
	rw.target("<=", 1.3)
	r.Summary["recovery_vs_cassandra_ratio"] = round(rw.Value.Median, 2)
	r.add(sc, "ratio: the same reads again in the same sidecar ÷ the same rows straight from Cassandra", "×", vsFloorWarm, 2)
	rw = r.add(sc, "speedup: wall time with a fresh Kafka consumer per read (the original's design) ÷ via sidecar (head cache on, fresh sidecar)", "×", vsPerRead, 1)
	rw.target(">=", 20)
	r.Summary["recovery_speedup_vs_consumer_per_read"] = round(rw.Value.Median, 2)
	r.add(sc, "wall time, the event rows straight from Cassandra (gocql, one query per journal)", "ms", floor, 0)
	r.add(sc, "wall time, a fresh Kafka consumer per read (Mark, pointer2, Cassandra, consumer from pointer2 to the Mark)", "ms", perRead, 0)
	r.add(sc, "wall time, head cache off, fresh sidecar", "ms", off, 0)
	r.add(sc, "wall time, head cache on, fresh sidecar", "ms", on, 0)
	r.add(sc, "speedup, the same reads again in the same sidecar", "×", speedupWarm, 1)
	r.add(sc, "wall time again, head cache off", "ms", offWarm, 0)
	r.add(sc, "wall time again, head cache on", "ms", onWarm, 0)
	r.add(sc, "Kafka consumers opened, head cache off", "", consOff, 0)
	rw = r.add(sc, "Kafka consumers opened, head cache on (1 topic)", "", consOn, 0)
	rw.target("==", 1)
	r.Summary["recovery_consumers_opened"] = map[string]any{
		"head_cache_on":  round(summarize(consOn).Median, 0),
		"head_cache_off": round(summarize(consOff).Median, 0),
	}
	r.note("P3: each pass starts a sidecar, then times the reads (the reported speedup: a pod recovering its entities), then times the same reads again; %d journals with %d events in Cassandra and %d unreplicated single-event appends each, read over %d connections; consumers opened = kjournal_kafka_consumers_opened_total (scan + follow) of that sidecar after the first reads. Baselines, same journals, all %d at once, in the same repetition: the floor reads each journal's %d event rows straight from Cassandra (gocql session of its own, the read's query and columns, nothing else); the consumer-per-read design does what the original's read does, in the bench process: a Mark, pointer2, the metajournal and event rows, and a new sarama consumer (own client) per read consuming the partition from pointer2 to the Mark.",
		len(ids), e.sz.p3Replicated, e.sz.p3Unreplicated, e.sz.p3Conns, len(ids), e.sz.p3Replicated)
	return nil
}

// appendAll appends, to every journal, the events from..from+count-1 in appends of perAppend events,
// through the in-process journal library (many journals at once), and returns the highest offset
// written per partition.
func (e *env) appendAll(ctx context.Context, topic string, ids []string, from, count, perAppend int, payload []byte) (map[int32]int64, error) {
	var mu sync.Mutex
	last := map[int32]int64{}
	jobs := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				j := e.journals.Journal(journal.Key{Topic: topic, ID: id})
				for s := from; s < from+count; s += perAppend {
					var evs []journal.Event
					for k := s; k < min(s+perAppend, from+count); k++ {
						evs = append(evs, journal.Event{SeqNr: journal.SeqNr(k), Payload: journal.BinaryPayload(payload)})
					}
					po, err := j.Append(ctx, evs, journal.AppendOptions{})
					if err != nil {
						select {
						case errs <- err:
						default:
						}
						return
					}
					mu.Lock()
					last[po.Partition] = max(last[po.Partition], po.Offset)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case jobs <- id:
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return last, nil
}

// replicate runs a replicator of topic alone until pointer2 of every partition in last has reached
// its offset, then stops it.
func (e *env) replicate(ctx context.Context, topic string, last map[int32]int64) error {
	rp, err := e.startReplicator(ctx, topic)
	if err != nil {
		return err
	}
	defer rp.stop()
	if err := e.waitReplicated(ctx, topic, last, 4*time.Minute); err != nil {
		return fmt.Errorf("%w (replicator log %s:\n%s)", err, rp.logPath, tail(rp.logPath, 10))
	}
	return nil
}

// waitReplicated waits until pointer2 of every partition in last has reached its offset.
func (e *env) waitReplicated(ctx context.Context, topic string, last map[int32]int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for p, off := range last {
			got, ok, err := e.store.Offset(ctx, topic, p)
			if err != nil {
				return err
			}
			if !ok || got < off {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replicator: %d partitions of %s not replicated after %s", behind, topic, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
