package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/replicator"
)

// P4's capacity part: how many records/s the replicator sustains, against how many records/s
// Cassandra takes when the same rows are written to it straight.

// keyParallelism is the --key-parallelism of the replicators the bench starts.
func (e *env) keyParallelism() int {
	for i, a := range e.replicatorArgs {
		if a == "--key-parallelism" && i+1 < len(e.replicatorArgs) {
			if n, err := strconv.Atoi(e.replicatorArgs[i+1]); err == nil {
				return n
			}
		}
		if v, ok := strings.CutPrefix(a, "--key-parallelism="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return replicator.DefaultKeyParallelism
}

// directCapacity writes the rows the replicator writes for n single-event appends over ids, spread
// over partitions partitions, straight to Cassandra with gocql, conc journals at a time, and
// returns the records/s. The records are cut into the replicator's rounds (1,000 consecutive
// records of a partition, its --max-batch); per round and journal, its rows go as one unlogged
// batch (one INSERT for one row) and then its metajournal row as one UPDATE of partition,
// offset, seq_nr and updated; per round, pointer2 as one UPDATE once the round's journals are
// written. That is what Cassandra needs to store the backlog the way the replicator does, minus
// the replicator's own work: no reads, no waiting for a round's slowest journal. The keyspace
// and tables are the bench store's (cassandra.Config's defaults); topic is one of its own.
func (e *env) directCapacity(ctx context.Context, topic string, ids []string, partitions, n, conc int, payload []byte) (float64, error) {
	const roundRecords = 1000
	s := e.store.Session()
	insert := `INSERT INTO journal.journal (id, topic, segment, seq_nr, partition, offset, timestamp, meta_record_id,
payload_type, payload_bin, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	update := `UPDATE journal.metajournal SET partition = ?, offset = ?, seq_nr = ?, updated = ?
WHERE id = ? AND topic = ? AND segment = ?`
	ptr := `UPDATE journal.pointer2 SET offset = ?, updated = ? WHERE topic = ? AND partition = ?`
	recordID, err := gocql.RandomUUID()
	if err != nil {
		return 0, err
	}

	// The units of work: one journal's records of one round.
	type round struct {
		partition int32
		last      int64 // offset
		left      atomic.Int64
	}
	type unit struct {
		r       *round
		j       int
		seqs    []int64
		offsets []int64
	}
	var units []*unit
	cur := make([]*round, partitions)
	byJournal := make([]map[int]*unit, partitions)
	next := make([]int64, partitions) // the next offset per partition
	for i := range n {
		j := i % len(ids)
		p := j % partitions
		if cur[p] == nil || next[p]%roundRecords == 0 {
			cur[p], byJournal[p] = &round{partition: int32(p)}, map[int]*unit{}
		}
		u := byJournal[p][j]
		if u == nil {
			u = &unit{r: cur[p], j: j}
			byJournal[p][j] = u
			units = append(units, u)
			cur[p].left.Add(1)
		}
		u.seqs = append(u.seqs, int64(i/len(ids)+1))
		u.offsets = append(u.offsets, next[p])
		cur[p].last = next[p]
		next[p]++
	}

	write := func(u *unit) error {
		id, p := ids[u.j], u.r.partition
		now := time.Now()
		args := func(k int) []any {
			return []any{id, topic, int64(0), u.seqs[k], p, u.offsets[k], now, recordID, "binary", payload, "{}"}
		}
		var err error
		if len(u.seqs) == 1 {
			err = s.Query(insert, args(0)...).WithContext(ctx).Exec()
		} else {
			b := s.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
			for k := range u.seqs {
				b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: insert, Args: args(k), Idempotent: true})
			}
			err = s.ExecuteBatch(b)
		}
		if err != nil {
			return err
		}
		last := len(u.seqs) - 1
		err = s.Query(update, p, u.offsets[last], u.seqs[last], now, id, topic,
			cassandra.MetaJournalSegment(id, cassandra.Segments)).WithContext(ctx).Exec()
		if err != nil || u.r.left.Add(-1) > 0 {
			return err
		}
		return s.Query(ptr, u.r.last, now, topic, p).WithContext(ctx).Exec()
	}

	var taken atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(taken.Add(1) - 1)
				if i >= len(units) || ctx.Err() != nil {
					return
				}
				if err := write(units[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("direct writes: %w", firstErr)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// sample is a partition's pointer2 as polled at a time.
type sample struct {
	at     time.Time
	offset int64
}

// assigned returns how many partitions of topic the replicator rp has taken (its /readyz body).
func assigned(ctx context.Context, rp *proc, topic string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rp.httpAddr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st replicator.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return len(st.Topics[topic].Partitions), nil
}

// catchUpRate is the replicator's sustained records/s over a backlog: records is the backlog's
// offsets per partition (sorted), samples the pointer2 values polled per partition, assignedAt when
// the replicator had all partitions. The rate is taken from the first pointer2 any partition saved
// (the end of the first round, so that joining the group and the first fetch do not count) to the
// last partition's catching up; a backlog of which the first rounds did half or more (the tiny
// size: one round per partition) is measured from assignedAt instead.
func catchUpRate(records map[int32][]int64, samples map[int32][]sample, assignedAt time.Time) (float64, error) {
	var first, done time.Time
	total := 0
	for p, offs := range records {
		total += len(offs)
		last := offs[len(offs)-1]
		ss := samples[p]
		i := slices.IndexFunc(ss, func(s sample) bool { return s.offset >= last })
		if i < 0 {
			return 0, fmt.Errorf("partition %d: pointer2 never reached %d", p, last)
		}
		if ss[i].at.After(done) {
			done = ss[i].at
		}
		if len(ss) > 0 && (first.IsZero() || ss[0].at.Before(first)) {
			first = ss[0].at
		}
	}
	// The records replicated by the time of the first sample.
	before := 0
	for p, offs := range records {
		var covered int64 = -1
		for _, s := range samples[p] {
			if s.at.After(first) {
				break
			}
			covered = s.offset
		}
		before += countAtOrBelow(offs, covered)
	}
	if d := done.Sub(first); d > 0 && before <= total/2 {
		return float64(total-before) / d.Seconds(), nil
	}
	if d := done.Sub(assignedAt); d > 0 {
		return float64(total) / d.Seconds(), nil
	}
	return 0, fmt.Errorf("catch-up of %d records took no time", total)
}

func countAtOrBelow(sorted []int64, off int64) int {
	i, _ := slices.BinarySearch(sorted, off+1)
	return i
}
