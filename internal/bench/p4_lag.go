package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kjournal/kjournal/journal"
)

// p4Poll is how often pointer2 is read per partition; it bounds the resolution of the lag.
const p4Poll = 10 * time.Millisecond

// p4BacklogRate is the rate the capacity backlog is produced at (the producer's, not the
// replicator's, limit).
const p4BacklogRate = 20000

// P4: the replicator's lag at a steady append rate. Single-event appends are produced open-loop at
// p4Rate/s over p4Journals journals through the journal library (the sidecar's producer code, in this
// process, so that the rate does not depend on the socket); every partition's pointer2 is polled every
// p4Poll. An event's lag is the time from its Kafka acknowledgement to the first poll that saw
// pointer2 ≥ its offset, i.e. until a read would take it from Cassandra.
func (e *env) runP4(ctx context.Context, r *report) error {
	const sc = "P4 replication lag"
	topic := e.name("p4")
	ids := make([]string, e.sz.p4Journals)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s_%04d", e.name("p4j"), i)
	}
	payload := randomPayload(e.sz.payloadBytes)
	parts, err := e.klog.Partitions(ctx, topic) // creates the topic
	if err != nil {
		return err
	}
	seqs := make([]int64, len(ids))
	var seqMu sync.Mutex

	type acked struct {
		at        time.Time
		partition int32
		offset    int64
	}
	// steady appends at rate for d and returns the acknowledgements and the achieved rate.
	steady := func(d time.Duration, rate int) ([]acked, float64, error) {
		var mu sync.Mutex
		var out []acked
		var firstErr error
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2048) // appends in flight; more means the producer cannot keep up
		const tick = 2 * time.Millisecond
		start := time.Now()
		sent := 0
		t := time.NewTicker(tick)
		defer t.Stop()
	loop:
		for now := start; now.Sub(start) < d; now = <-t.C {
			due := int(float64(now.Sub(start)+tick) * float64(rate) / float64(time.Second))
			for ; sent < due; sent++ {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					break loop
				}
				j := sent % len(ids)
				seqMu.Lock()
				seqs[j]++
				seq := seqs[j]
				seqMu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					evs := []journal.Event{{SeqNr: journal.SeqNr(seq), Payload: journal.BinaryPayload(payload)}}
					po, err := e.journals.Journal(journal.Key{Topic: topic, ID: ids[j]}).Append(ctx, evs, journal.AppendOptions{})
					at := time.Now()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						if firstErr == nil {
							firstErr = err
						}
						return
					}
					out = append(out, acked{at: at, partition: po.Partition, offset: po.Offset})
				}()
			}
		}
		wg.Wait()
		elapsed := time.Since(start)
		return out, float64(len(out)) / elapsed.Seconds(), firstErr
	}

	// The pollers run through the capacity measurement, the warm-up and every repetition.
	samples := make(map[int32][]sample, len(parts))
	var smu sync.Mutex
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	for _, p := range parts {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(p4Poll)
			defer t.Stop()
			prev := int64(-1)
			for {
				off, ok, err := e.store.Offset(pollCtx, topic, p)
				at := time.Now()
				if err == nil && ok && off != prev {
					prev = off
					smu.Lock()
					samples[p] = append(samples[p], sample{at: at, offset: off})
					smu.Unlock()
				}
				select {
				case <-pollCtx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	defer func() { stopPoll(); pwg.Wait() }()

	// lags waits until every ack is replicated and returns the lags in ms.
	lags := func(acks []acked) ([]float64, error) {
		last := map[int32]int64{}
		for _, a := range acks {
			last[a.partition] = max(last[a.partition], a.offset)
		}
		if err := e.waitReplicated(ctx, topic, last, 2*time.Minute); err != nil {
			return nil, err
		}
		time.Sleep(2 * p4Poll) // let the pollers see what waitReplicated saw
		smu.Lock()
		defer smu.Unlock()
		out := make([]float64, 0, len(acks))
		for _, a := range acks {
			ss := samples[a.partition]
			i := sort.Search(len(ss), func(i int) bool { return ss[i].offset >= a.offset })
			if i == len(ss) {
				return nil, fmt.Errorf("partition %d: pointer2 never seen at %d", a.partition, a.offset)
			}
			out = append(out, max(ms(ss[i].at.Sub(a.at)), 0))
		}
		return out, nil
	}

	// Capacity: a backlog produced with no replicator running, written straight to Cassandra
	// (other journal ids, other topic) by the bench, then replicated by a replicator started now.
	e.log.Printf("P4: capacity, a backlog of %d single-event appends over %d journals", e.sz.p4Backlog, len(ids))
	backlog, _, err := steady(time.Duration(float64(e.sz.p4Backlog)/p4BacklogRate*float64(time.Second)), p4BacklogRate)
	if err != nil {
		return fmt.Errorf("P4 backlog: %w", err)
	}
	conc := len(parts) * e.keyParallelism()
	baseIDs := make([]string, len(ids))
	for i := range baseIDs {
		baseIDs[i] = fmt.Sprintf("%s_%04d", e.name("p4d"), i)
	}
	directBefore, err := e.directCapacity(ctx, e.name("p4d"), baseIDs, len(parts), len(backlog), conc, payload)
	if err != nil {
		return fmt.Errorf("P4: %w", err)
	}
	rp, err := e.startReplicator(ctx, topic)
	if err != nil {
		return err
	}
	defer rp.stop()
	var assignedAt time.Time
	for assignedAt.IsZero() {
		if n, err := assigned(ctx, rp, topic); err == nil && n == len(parts) {
			assignedAt = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := lags(backlog); err != nil {
		return fmt.Errorf("P4 catch-up: %w", err)
	}
	backlogOffsets := map[int32][]int64{}
	for _, a := range backlog {
		backlogOffsets[a.partition] = append(backlogOffsets[a.partition], a.offset)
	}
	for _, offs := range backlogOffsets {
		slices.Sort(offs)
	}
	smu.Lock()
	capacity, err := catchUpRate(backlogOffsets, samples, assignedAt)
	smu.Unlock()
	if err != nil {
		return fmt.Errorf("P4 catch-up: %w", err)
	}
	// The direct writes again, the replicator idle: on a shared machine the load drifts within
	// seconds, and the mean of the runs before and after the catch-up cancels a steady drift.
	directAfter, err := e.directCapacity(ctx, e.name("p4d"), baseIDs, len(parts), len(backlog), conc, payload)
	if err != nil {
		return fmt.Errorf("P4: %w", err)
	}
	direct := (directBefore + directAfter) / 2
	half := max(int(capacity/2), 1)
	if e.sz.p4MaxHalf > 0 {
		half = min(half, e.sz.p4MaxHalf)
	}
	e.log.Printf("P4: replicator %.0f records/s, direct writes %.0f records/s before and %.0f after (%d at a time)", capacity, directBefore, directAfter, conc)

	warm := min(5*time.Second, e.sz.p4Duration/2)
	e.log.Printf("P4: warm-up, %s at %d appends/s", warm, e.sz.p4Rate)
	acks, _, err := steady(warm, e.sz.p4Rate)
	if err != nil {
		return fmt.Errorf("P4 warm-up: %w", err)
	}
	if _, err := lags(acks); err != nil {
		return fmt.Errorf("P4 warm-up: %w", err)
	}
	// The replicator's rounds, from its metrics: how long one takes and how many records it carries.
	type roundStats struct{ rounds, seconds, records float64 }
	scrape := func() (roundStats, error) {
		var st roundStats
		var err error
		m := map[string]string{"topic": topic}
		if st.rounds, err = metricSum(ctx, rp.httpAddr, "kjournal_replicator_round_duration_seconds_count", m); err != nil {
			return st, err
		}
		if st.seconds, err = metricSum(ctx, rp.httpAddr, "kjournal_replicator_round_duration_seconds", m); err != nil {
			return st, err
		}
		st.records, err = metricSum(ctx, rp.httpAddr, "kjournal_replicator_records_total", m)
		return st, err
	}
	var p50, p99, pmax, rates, roundMs, perRound, halfP99 []float64
	for rep := range e.sz.reps {
		before, err := scrape()
		if err != nil {
			return fmt.Errorf("P4: replicator metrics: %w", err)
		}
		e.log.Printf("P4: rep %d/%d, %s at %d single-event appends/s over %d journals", rep+1, e.sz.reps, e.sz.p4Duration, e.sz.p4Rate, len(ids))
		acks, rate, err := steady(e.sz.p4Duration, e.sz.p4Rate)
		if err != nil {
			return fmt.Errorf("P4: %w", err)
		}
		l, err := lags(acks)
		if err != nil {
			return fmt.Errorf("P4: %w", err)
		}
		after, err := scrape()
		if err != nil {
			return fmt.Errorf("P4: replicator metrics: %w", err)
		}
		if n := after.rounds - before.rounds; n > 0 {
			roundMs = append(roundMs, (after.seconds-before.seconds)/n*1000)
			perRound = append(perRound, (after.records-before.records)/n)
		}
		p50, p99 = append(p50, percentile(l, 0.5)), append(p99, percentile(l, 0.99))
		pmax, rates = append(pmax, percentile(l, 1)), append(rates, rate)
	}
	// After the repetitions at p4Rate, so that a rate the replicator cannot sustain (and the
	// compactions it leaves Cassandra) does not weigh on them.
	for rep := range e.sz.reps {
		e.log.Printf("P4: rep %d/%d, %s at %d appends/s (half the replicator's capacity)", rep+1, e.sz.reps, e.sz.p4Duration, half)
		acks, _, err := steady(e.sz.p4Duration, half)
		if err != nil {
			return fmt.Errorf("P4 at half capacity: %w", err)
		}
		l, err := lags(acks)
		if err != nil {
			return fmt.Errorf("P4 at half capacity: %w", err)
		}
		halfP99 = append(halfP99, percentile(l, 0.99))
	}
	rw := r.add(sc, "lag p50 (Kafka ack → pointer2 ≥ offset)", "ms", p50, 1)
	r.Summary["replication_lag_p50_ms"] = round(rw.Value.Median, 1)
	rw = r.add(sc, "lag p99", "ms", p99, 1)
	rw.target("<=", 200)
	r.Summary["replication_lag_p99_ms"] = round(rw.Value.Median, 1)
	r.add(sc, "lag max", "ms", pmax, 1)
	rw = r.add(sc, fmt.Sprintf("lag p99 at half the replicator's capacity (%d appends/s)", half), "ms", halfP99, 1)
	rw.target("<=", 100)
	r.Summary["replication_lag_p99_ms_half_capacity"] = round(rw.Value.Median, 1)
	r.add(sc, "replicator capacity: records/s catching up a backlog", "records/s", []float64{capacity}, 0)
	r.Summary["replicator_records_per_s"] = round(capacity, 0)
	r.add(sc, fmt.Sprintf("the same rows written straight to Cassandra with gocql, %d journals at a time (mean of a run before and one after the catch-up)", conc), "records/s", []float64{direct}, 0)
	rw = r.add(sc, "replicator capacity ÷ direct writes", "×", []float64{capacity / direct}, 2)
	rw.target(">=", 0.6)
	r.Summary["replicator_capacity_ratio"] = round(rw.Value.Median, 2)
	r.add(sc, "append rate achieved", "events/s", rates, 0)
	r.add(sc, "replicator round duration, mean (a partition's batch: Cassandra writes; pointer2 and the commit follow behind)", "ms", roundMs, 1)
	r.add(sc, "records per round, mean", "", perRound, 0)
	r.note("P4: %s per repetition at %d single-event appends/s over %d journals, produced in-process with the journal library; pointer2 polled every %s per partition (the lag's resolution).",
		e.sz.p4Duration, e.sz.p4Rate, len(ids), p4Poll)
	r.note("P4 capacity: %d single-event appends over the same journals produced before the replicator started; its rate is the records from the end of its first round to pointer2 covering the backlog, per second. Direct writes (before the replicator started, and again after its catch-up; the mean): the same backlog cut into rounds of 1,000 records of a partition; per round and journal an unlogged batch of its rows then a metajournal UPDATE, per round a pointer2 UPDATE; %d journals at a time (partitions × --key-parallelism).",
		len(backlog), conc)
	return nil
}
