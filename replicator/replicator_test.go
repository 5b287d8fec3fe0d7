package replicator_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/replicator"
	"github.com/kjournal/kjournal/replicator/replicatortest"
)

// TestReplicator_Scenarios are the original's TopicReplicatorSpec scenarios, on real Kafka and
// Cassandra, each on a topic of its own, all replicated by one replicator.
func TestReplicator_Scenarios(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)

	// Set up before the replicator sees the topic: pointer2 ahead of what Kafka has.
	skipTopic := e.topic("skip")
	skipP, skipQ := int32(1), int32(2)
	if err := e.store.SavePointer2(ctx, skipTopic, skipP, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SavePointer2(ctx, skipTopic, skipQ, 5, time.Now()); err != nil {
		t.Fatal(err)
	}

	start(t, e.config(t))
	group := func(topic string) string { return "replicator-" + topic }

	t.Run("appends for 2 partitions x 2 keys", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("appends")
		en := ends{}
		for _, p := range []int32{0, 3} {
			for _, id := range idsOn("j", p, 2) {
				key := journal.Key{Topic: topic, ID: id}
				e.appendTo(t, en, key, 1, 2, journal.AppendOptions{})
				e.appendTo(t, en, key, 3, 3, journal.AppendOptions{Headers: journal.Headers{"h": "v"}, Metadata: json.RawMessage(`{"m":1}`)})
			}
		}
		e.waitReplicated(t, topic, en, 30*time.Second)
		e.waitCommitted(t, group(topic), topic, plus1(en))
		want := e.verify(t, topic, en)
		if len(want) != 4 {
			t.Errorf("%d journals, want 4", len(want))
		}
	})

	t.Run("expireAfter: the last append's", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("expire")
		key := journal.Key{Topic: topic, ID: "e"}
		other := journal.Key{Topic: topic, ID: "e-removed"}
		en := ends{}
		e.appendTo(t, en, key, 1, 1, journal.AppendOptions{ExpireAfter: time.Hour})
		e.appendTo(t, en, key, 2, 2, journal.AppendOptions{ExpireAfter: 48 * time.Hour})
		e.appendTo(t, en, other, 1, 1, journal.AppendOptions{ExpireAfter: time.Hour})
		e.waitReplicated(t, topic, en, 30*time.Second)
		e.appendTo(t, en, other, 2, 2, journal.AppendOptions{})
		e.waitReplicated(t, topic, en, 30*time.Second)
		h, ok := head(t, e.store, key)
		if !ok || h.Expiry == nil || h.Expiry.After != 48*time.Hour {
			t.Fatalf("head %+v, want expire_after 48h", h)
		}
		// expire_on is the UTC date of the round's time + expire_after.
		if d := h.Expiry.On.Sub(time.Now().UTC().Add(48 * time.Hour)); d > time.Minute || d < -25*time.Hour {
			t.Errorf("expire_on %s for expire_after 48h", h.Expiry.On)
		}
		if h, _ := head(t, e.store, other); h.Expiry != nil {
			t.Errorf("an append without expire_after keeps expiry %+v", h.Expiry)
		}
		e.verify(t, topic, en)
	})

	t.Run("appends and marks", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("marks")
		key := journal.Key{Topic: topic, ID: "m"}
		en := ends{}
		e.appendTo(t, en, key, 1, 2, journal.AppendOptions{})
		en.add(must[journal.PartitionOffset](t)(e.js.Journal(key).Mark(ctx, "1")))
		e.appendTo(t, en, key, 3, 4, journal.AppendOptions{})
		last := en.add(must[journal.PartitionOffset](t)(e.js.Journal(key).Mark(ctx, "2")))
		e.waitReplicated(t, topic, en, 30*time.Second)
		e.waitCommitted(t, group(topic), topic, plus1(en))
		h, _ := head(t, e.store, key)
		if h.SeqNr != 4 || h.PartitionOffset.Offset != last.Offset-1 {
			t.Errorf("head %+v: seq_nr 4 at the second append's offset %d", h, last.Offset-1)
		}
		e.verify(t, topic, en)
	})

	t.Run("marks only advance pointer2 and commit", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("markonly")
		key := journal.Key{Topic: topic, ID: "mo"}
		en := ends{}
		for i := range 3 {
			en.add(must[journal.PartitionOffset](t)(e.js.Journal(key).Mark(ctx, string(rune('a'+i)))))
		}
		e.waitReplicated(t, topic, en, 30*time.Second)
		e.waitCommitted(t, group(topic), topic, plus1(en))
		if _, ok := head(t, e.store, key); ok {
			t.Errorf("a metajournal row for marks only")
		}
	})

	t.Run("appends and deletes", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("deletes")
		key := journal.Key{Topic: topic, ID: "1"}
		en := ends{}
		e.appendTo(t, en, key, 1, 3, journal.AppendOptions{})
		po, ok, err := e.js.Journal(key).Delete(ctx, 2)
		if err != nil || !ok {
			t.Fatalf("delete: %v %v", ok, err)
		}
		en.add(po)
		e.waitReplicated(t, topic, en, 30*time.Second)
		h, _ := head(t, e.store, key)
		if h.SeqNr != 3 || h.DeleteTo != 2 {
			t.Errorf("head %+v, want seq_nr 3, delete_to 2", h)
		}
		want := e.verify(t, topic, en)
		if j := want["1"]; len(j.Events) != 1 || j.Events[3].SeqNr != 3 {
			t.Errorf("expected rows %v, want seqNr 3 only", j.Events)
		}
	})

	t.Run("purge removes the metajournal row", func(t *testing.T) {
		t.Parallel()
		topic := e.topic("purge")
		key := journal.Key{Topic: topic, ID: "p"}
		en := ends{}
		e.appendTo(t, en, key, 1, 3, journal.AppendOptions{})
		e.waitReplicated(t, topic, en, 30*time.Second)
		if _, ok := head(t, e.store, key); !ok {
			t.Fatal("no metajournal row after the append")
		}
		en.add(must[journal.PartitionOffset](t)(e.js.Journal(key).Purge(ctx)))
		e.waitReplicated(t, topic, en, 30*time.Second)
		if _, ok := head(t, e.store, key); ok {
			t.Errorf("metajournal row after purge")
		}
		e.verify(t, topic, en)
	})

	t.Run("already replicated records are skipped; still committed", func(t *testing.T) {
		t.Parallel()
		topic := skipTopic
		key := journal.Key{Topic: topic, ID: idsOn("s", skipP, 1)[0]}
		other := journal.Key{Topic: topic, ID: idsOn("s", skipQ, 1)[0]}
		en := ends{}
		if po := e.appendTo(t, en, key, 1, 2, journal.AppendOptions{}); po.Offset != 0 {
			t.Fatalf("first record of a fresh topic at %s", po)
		}
		e.appendTo(t, en, key, 3, 3, journal.AppendOptions{})
		e.appendTo(t, en, other, 1, 1, journal.AppendOptions{})
		e.appendTo(t, en, other, 2, 2, journal.AppendOptions{})
		e.waitReplicated(t, topic, ends{skipP: 1}, 30*time.Second)
		e.waitCommitted(t, group(topic), topic, map[int32]int64{skipP: 2, skipQ: 2})
		// offset 0 (seqNrs 1..2) was "replicated" already: the journal starts at 3
		h, _ := head(t, e.store, key)
		if h.SeqNr != 3 || h.DeleteTo != 2 {
			t.Errorf("head %+v, want seq_nr 3, delete_to 2", h)
		}
		if o, _, _ := e.store.Offset(ctx, topic, skipQ); o != 5 {
			t.Errorf("pointer2 of partition %d = %d; it must stay at 5", skipQ, o)
		}
		if _, ok := head(t, e.store, other); ok {
			t.Errorf("records below pointer2 replicated")
		}
	})
}

// TestReplicator_Poison: a record whose events cannot be decoded stalls its partition in stall
// mode (the records before it replicated and committed, the replicator not ready), and is
// skipped, counted, in skip mode.
func TestReplicator_Poison(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	topic := e.topic("poison")
	key := journal.Key{Topic: topic, ID: "x"}
	en := ends{}
	e.appendTo(t, en, key, 1, 2, journal.AppendOptions{})
	bad, err := e.log.Produce(ctx, journal.Action{
		Key: key, Timestamp: time.Now(),
		Header: &journal.AppendHeader{Range: journal.SeqRange{From: 3, To: 4}, PayloadType: journal.PayloadJSON},
		Value:  []byte("this is not JSON"),
	})
	if err != nil {
		t.Fatal(err)
	}
	en.add(bad)
	e.appendTo(t, en, key, 5, 6, journal.AppendOptions{})
	last := en.add(must[journal.PartitionOffset](t)(e.js.Journal(key).Mark(ctx, "end")))

	reg := prometheus.NewRegistry()
	cfg := e.config(t)
	cfg.Registerer = reg
	cfg.Logger = testLogger(t, "replicator-stall")
	r := start(t, cfg)
	p := bad.Partition
	e.waitReplicated(t, topic, ends{p: bad.Offset - 1}, 30*time.Second)
	e.waitCommitted(t, "replicator-"+topic, topic, map[int32]int64{p: bad.Offset})
	waitFor(t, "not ready", 10*time.Second, func() (bool, error) { return !r.Status().Ready, nil })
	time.Sleep(time.Second) // retries go on; nothing moves
	if o, _, _ := e.store.Offset(ctx, topic, p); o != bad.Offset-1 {
		t.Errorf("pointer2 %d moved past the poison record at %d", o, bad.Offset)
	}
	s := r.Status()
	if s.Ready || len(s.Reasons) != 1 || !strings.Contains(s.Reasons[0], "poison record") || s.Topics[topic].Stalled[p] == "" {
		t.Errorf("status %+v", s)
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "poison") {
		t.Errorf("/readyz %d %s", rec.Code, rec.Body)
	}
	if v := gauge(t, reg, "kjournal_replicator_stalled_partitions"); v != 1 {
		t.Errorf("stalled_partitions %v", v)
	}
	if v := gauge(t, reg, "kjournal_replicator_lag_records"); v != float64(last.Offset-bad.Offset+1) {
		t.Errorf("lag_records %v while stalled, want %d", v, last.Offset-bad.Offset+1)
	}
	r.stop(t)

	cfg = e.config(t)
	cfg.OnPoison = replicator.PoisonSkip
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Logger = testLogger(t, "replicator-skip")
	r = start(t, cfg)
	e.waitReplicated(t, topic, ends{p: last.Offset}, 30*time.Second)
	waitFor(t, "ready", 10*time.Second, func() (bool, error) { return r.Status().Ready, nil })
	h, _ := head(t, e.store, key)
	if h.SeqNr != 6 {
		t.Errorf("head %+v, want seq_nr 6", h)
	}
	var got []journal.SeqNr
	for ev, err := range e.store.Read(ctx, key, 1) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.SeqNr)
	}
	if len(got) != 4 || got[0] != 1 || got[2] != 5 {
		t.Errorf("events %v, want 1 2 5 6", got)
	}
	if v := gauge(t, cfg.Registerer.(*prometheus.Registry), "kjournal_replicator_poison_records_skipped_total"); v != 1 {
		t.Errorf("poison_records_skipped_total %v", v)
	}
	// The metrics of a round are updated after its commit.
	e.waitCommitted(t, "replicator-"+topic, topic, map[int32]int64{p: last.Offset + 1})
	var body string
	waitFor(t, "the metrics", 5*time.Second, func() (bool, error) {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		body = string(b)
		return strings.Contains(body, "kjournal_replicator_round_duration_seconds"), nil
	})
	for _, m := range []string{"kjournal_replicator_events_total", "kjournal_replicator_lag_records", "kjournal_replicator_replication_latency_seconds"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// gauge returns the sum of name's values over its labels in reg.
func gauge(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestReplicator_Expiry: the expiry job purges a journal whose expire_after passed (and no other),
// not before expire_after, within the job's interval.
func TestReplicator_Expiry(t *testing.T) {
	now := time.Now().UTC()
	if midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour); midnight.Sub(now) < 15*time.Second {
		t.Skip("too close to midnight UTC: expire_on would be tomorrow")
	}
	e := newEnv(t)
	ctx := testCtx(t)
	topic := e.topic("expiry")
	short := journal.Key{Topic: topic, ID: "short"}
	long := journal.Key{Topic: topic, ID: "long"}
	never := journal.Key{Topic: topic, ID: "never"}
	en := ends{}
	appended := time.Now()
	e.appendTo(t, en, short, 1, 2, journal.AppendOptions{ExpireAfter: 2 * time.Second})
	e.appendTo(t, en, long, 1, 1, journal.AppendOptions{ExpireAfter: time.Hour})
	e.appendTo(t, en, never, 1, 1, journal.AppendOptions{})

	cfg := e.config(t)
	cfg.ExpiryInterval = time.Second
	cfg.ExpiryLookbackDays = -1 // today only
	cfg.Producer = e.log
	cfg.Origin = "expiry-test"
	r := start(t, cfg)
	e.waitReplicated(t, topic, en, 30*time.Second)
	if h, ok := head(t, e.store, short); !ok || h.Expiry == nil || !h.Expiry.On.Equal(now.Truncate(24*time.Hour)) {
		t.Fatalf("head of %s: %+v", short.ID, h)
	}
	waitFor(t, "the purge of the expired journal", 30*time.Second, func() (bool, error) {
		_, ok, err := e.store.Head(ctx, short)
		return !ok, err
	})
	took := time.Since(appended)
	t.Logf("purged %s after expire_after 2s in %s", short.ID, took)
	if took < 2*time.Second {
		t.Errorf("purged after %s, before its expire_after of 2s", took)
	}
	if took > 2*time.Second+cfg.ExpiryInterval+10*time.Second {
		t.Errorf("purged only after %s", took)
	}
	if !r.Status().Topics[topic].Expiry {
		t.Errorf("status does not show the expiry job: %+v", r.Status().Topics[topic])
	}
	time.Sleep(2 * cfg.ExpiryInterval)
	for _, k := range []journal.Key{long, never} {
		if _, ok := head(t, e.store, k); !ok {
			t.Errorf("%s purged", k.ID)
		}
	}
	if _, ok, err := e.js.Journal(short).Pointer(ctx); err != nil || ok {
		t.Errorf("pointer of the purged journal: %v %v", ok, err)
	}
	// The purge is an ordinary action in Kafka, from the replicator's origin.
	en = e.markEnds(t, topic)
	e.waitReplicated(t, topic, en, 30*time.Second)
	want := e.verify(t, topic, en)
	if j := want[short.ID]; j == nil || j.Exists {
		t.Errorf("the fold of kafka has %s alive: %+v", short.ID, j)
	}
}

// TestReplicator_TwoInstances: two replicators in one group split the partitions and write
// exactly what one would; when one leaves, the other takes its partitions over.
func TestReplicator_TwoInstances(t *testing.T) {
	e := newEnv(t)
	topic := e.topic("two")
	ctx := testCtx(t)
	en := ends{}
	// Create the topic before the replicators start, so both join one group generation early.
	en.add(must[journal.PartitionOffset](t)(e.js.Journal(journal.Key{Topic: topic, ID: "init"}).Mark(ctx, "init")))

	cfg1, cfg2 := e.config(t), e.config(t)
	cfg1.Logger, cfg2.Logger = testLogger(t, "r1"), testLogger(t, "r2")
	r1, r2 := start(t, cfg1), start(t, cfg2)
	waitFor(t, "both replicators own partitions", 60*time.Second, func() (bool, error) {
		return len(ownedPartitions(r1.Replicator, topic)) > 0 && len(ownedPartitions(r2.Replicator, topic)) > 0 &&
			len(ownedPartitions(r1.Replicator, topic))+len(ownedPartitions(r2.Replicator, topic)) == partitions, nil
	})
	t.Logf("split: r1 %v, r2 %v", ownedPartitions(r1.Replicator, topic), ownedPartitions(r2.Replicator, topic))

	w := replicatortest.Writer{Journals: e.js, Topic: topic, Count: 40, Events: 30, Workers: 8}
	if _, err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	en = e.markEnds(t, topic)
	e.waitReplicated(t, topic, en, 60*time.Second)
	e.verify(t, topic, en)

	// r2 leaves; r1 replicates everything from then on.
	r2.stop(t)
	waitFor(t, "r1 owns every partition", 60*time.Second, func() (bool, error) {
		return len(ownedPartitions(r1.Replicator, topic)) == partitions, nil
	})
	w.Prefix, w.Events = "after", 10
	if _, err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	en = e.markEnds(t, topic)
	e.waitReplicated(t, topic, en, 60*time.Second)
	e.verify(t, topic, en)
}

func TestNew_Config(t *testing.T) {
	if _, err := replicator.New(replicator.Config{}); err == nil {
		t.Error("New without Store and brokers succeeded")
	}
	if _, err := replicator.ParsePoisonMode("ignore"); err == nil {
		t.Error("ParsePoisonMode(ignore) succeeded")
	}
	for _, s := range []string{"stall", "SKIP"} {
		if _, err := replicator.ParsePoisonMode(s); err != nil {
			t.Errorf("ParsePoisonMode(%s): %v", s, err)
		}
	}
}

// TestReplicator_InterruptedNewJournal: an earlier attempt wrote a new journal's rows but died
// before its metajournal row, and the journal's next actions (a Delete covering those rows, or a
// Purge) make compaction drop that Append. The rows must still go: under delete_to they would
// be garbage, and after a purge they would reappear in the journal's next incarnation.
func TestReplicator_InterruptedNewJournal(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	topic := e.topic("interrupted")
	deleted := journal.Key{Topic: topic, ID: "deleted"}
	purged := journal.Key{Topic: topic, ID: "purged"}
	en := ends{}
	first := e.appendTo(t, en, deleted, 1, 2, journal.AppendOptions{})
	e.appendTo(t, en, deleted, 3, 3, journal.AppendOptions{})
	if po, ok, err := e.js.Journal(deleted).Delete(ctx, 2); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	} else {
		en.add(po)
	}
	firstPurged := e.appendTo(t, en, purged, 1, 3, journal.AppendOptions{})
	en.add(must[journal.PartitionOffset](t)(e.js.Journal(purged).Purge(ctx)))
	e.appendTo(t, en, purged, 1, 1, journal.AppendOptions{})
	en = e.markEnds(t, topic)

	// The interrupted attempt: the first Append of each journal written by the store, then its
	// metajournal row removed, as if the process had died between the two.
	actions, err := replicatortest.ReadTopic(ctx, e.log, topic, en)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		if a.PartitionOffset != first && a.PartitionOffset != firstPurged {
			continue
		}
		h := a.Header.(*journal.AppendHeader)
		evs, md, err := journal.DecodeEvents(a.Value, h.PayloadType)
		if err != nil {
			t.Fatal(err)
		}
		var recs []journal.EventRecord
		for _, ev := range evs {
			recs = append(recs, journal.EventRecord{Event: ev, Timestamp: a.Timestamp, PartitionOffset: a.PartitionOffset,
				Origin: h.Origin, Version: h.Version, Metadata: journal.RecordMetadata{Header: h.Metadata, Payload: md}})
		}
		if _, err := e.store.Append(ctx, a.Key, a.PartitionOffset, time.Now(), 0, recs); err != nil {
			t.Fatal(err)
		}
		err = e.store.Session().Query(`DELETE FROM `+e.keyspace+`.metajournal WHERE topic = ? AND segment = ? AND id = ?`,
			topic, cassandra.MetaJournalSegment(a.Key.ID, cassandra.Segments), a.Key.ID).Exec()
		if err != nil {
			t.Fatal(err)
		}
	}

	start(t, e.config(t))
	e.waitReplicated(t, topic, en, 30*time.Second)
	e.verify(t, topic, en)
	var got []journal.SeqNr
	for ev, err := range e.store.Read(ctx, purged, 1) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.SeqNr)
	}
	if len(got) != 1 {
		t.Errorf("the purged journal's next incarnation reads %v, want [1]", got)
	}
}
