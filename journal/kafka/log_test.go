package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

const testPartitions = 4

// newTopic creates a fresh topic with testPartitions partitions and deletes it when the test ends.
func newTopic(tb testing.TB, brokers []string) string {
	tb.Helper()
	return createTopic(tb, brokers, testPartitions, nil)
}

// createTopic creates a fresh topic with partitions partitions and the given topic configs, waits for
// its leaders, and deletes it when the test ends.
func createTopic(tb testing.TB, brokers []string, partitions int, configs map[string]*string) string {
	tb.Helper()
	topic := testenv.Name("t")
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		tb.Fatalf("cluster admin: %v", err)
	}
	detail := &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1, ConfigEntries: configs}
	if err := admin.CreateTopic(topic, detail, false); err != nil {
		_ = admin.Close()
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	waitLeaders(tb, brokers, topic, partitions)
	tb.Cleanup(func() {
		if err := admin.DeleteTopic(topic); err != nil {
			tb.Logf("delete topic %s: %v", topic, err)
		}
		_ = admin.Close()
	})
	return topic
}

// waitLeaders returns once every partition of a just-created topic has a leader. CreateTopic
// answers before the controller has elected them all; a consumer started meanwhile fails with
// LEADER_NOT_AVAILABLE and restarts, which tests that count consumers would see as a second one.
func waitLeaders(tb testing.TB, brokers []string, topic string, partitions int) {
	tb.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		tb.Fatalf("client: %v", err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := client.RefreshMetadata(topic)
		if err == nil {
			var ps []int32
			if ps, err = client.Partitions(topic); err == nil && len(ps) < partitions {
				err = fmt.Errorf("%d of %d partitions in the metadata", len(ps), partitions)
			}
			for _, p := range ps {
				if err != nil {
					break
				}
				_, err = client.Leader(topic, p)
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("topic %s: partitions without a leader after 30 s: %v", topic, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newLog returns a Log on brokers, closed when the test ends; cfg.Brokers is filled in.
func newLog(tb testing.TB, brokers []string, cfg kafka.Config) *kafka.Log {
	tb.Helper()
	cfg.Brokers = brokers
	l, err := kafka.New(cfg)
	if err != nil {
		tb.Fatalf("kafka.New: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return l
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func now() time.Time { return time.Now().Truncate(time.Millisecond) }

func appendOf(tb testing.TB, key journal.Key, from, to journal.SeqNr, binary bool) journal.Action {
	tb.Helper()
	var events []journal.Event
	for s := from; s <= to; s++ {
		e := journal.Event{SeqNr: s, Tags: []string{"t1", "t2"}, Payload: journal.JSONPayload(json.RawMessage(fmt.Sprintf(`{"n":%d}`, s)))}
		if binary {
			e.Payload = journal.BinaryPayload([]byte{0, 1, byte(s)})
		}
		events = append(events, e)
	}
	value, pt, err := journal.EncodeEvents(events, journal.PayloadMetadata{ExpireAfter: time.Hour, Data: json.RawMessage(`{"p":1}`)})
	if err != nil {
		tb.Fatalf("encode events: %v", err)
	}
	return journal.Action{
		Key:       key,
		Timestamp: now(),
		Header: &journal.AppendHeader{
			Range:       journal.SeqRange{From: from, To: to},
			Origin:      "test-origin",
			Version:     "0.1.0",
			PayloadType: pt,
			Metadata:    journal.HeaderMetadata{Data: json.RawMessage(`{"h":"v"}`)},
		},
		Value:   value,
		Headers: journal.Headers{"trace": "abc", "empty": ""},
	}
}

func markAction(key journal.Key, id string) journal.Action {
	return journal.Action{Key: key, Timestamp: now(), Header: &journal.MarkHeader{ID: id, Origin: "test-origin"}}
}

func produce(tb testing.TB, l *kafka.Log, a journal.Action) journal.PartitionOffset {
	tb.Helper()
	po, err := l.Produce(testCtx(tb), a)
	if err != nil {
		tb.Fatalf("produce %s %s: %v", a.Key, a.Header.Kind(), err)
	}
	return po
}

// scanAll scans [from, to] of id and returns what fn saw.
func scanAll(tb testing.TB, l *kafka.Log, topic string, partition int32, from, to int64, id string) []journal.ActionRecord {
	tb.Helper()
	var got []journal.ActionRecord
	err := l.Scan(testCtx(tb), topic, partition, from, to, id, func(r journal.ActionRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		tb.Fatalf("scan %s/%d [%d, %d] %s: %v", topic, partition, from, to, id, err)
	}
	return got
}

// sameAction compares what was produced with what was read back: Kafka keeps timestamps to the
// millisecond, and empty user headers read back as nil.
func sameAction(want journal.Action, got journal.ActionRecord) error {
	if !got.Timestamp.Equal(want.Timestamp) {
		return fmt.Errorf("timestamp %s, want %s", got.Timestamp, want.Timestamp)
	}
	if got.Key != want.Key {
		return fmt.Errorf("key %s, want %s", got.Key, want.Key)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		return fmt.Errorf("header %#v, want %#v", got.Header, want.Header)
	}
	if string(got.Value) != string(want.Value) {
		return fmt.Errorf("value %q, want %q", got.Value, want.Value)
	}
	if len(got.Headers) != len(want.Headers) || (len(want.Headers) > 0 && !reflect.DeepEqual(got.Headers, want.Headers)) {
		return fmt.Errorf("headers %v, want %v", got.Headers, want.Headers)
	}
	return nil
}

// idsOnPartition returns n journal ids that all hash to partition p of a testPartitions topic.
func idsOnPartition(prefix string, p int32, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if kafka.PartitionForKey(id, testPartitions) == p {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestLog_ProduceScan(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}

	actions := []journal.Action{
		appendOf(t, key, 1, 3, false),
		appendOf(t, key, 4, 4, true),
		{Key: key, Timestamp: now(), Header: &journal.DeleteHeader{To: 2, Origin: "test-origin", Version: "0.1.0"}},
		markAction(key, "mark-1"),
		{Key: key, Timestamp: now(), Header: &journal.PurgeHeader{Origin: "test-origin"}},
		{Key: key, Timestamp: now(), Header: &journal.PurgeHeader{}},
		appendOf(t, key, 1, 1, false),
	}
	want := kafka.PartitionForKey(key.ID, testPartitions)
	var pos []journal.PartitionOffset
	for _, a := range actions {
		po := produce(t, l, a)
		if po.Partition != want {
			t.Fatalf("%s landed on partition %d, PartitionForKey says %d", a.Header.Kind(), po.Partition, want)
		}
		if len(pos) > 0 && po.Offset <= pos[len(pos)-1].Offset {
			t.Fatalf("offset %d after %d", po.Offset, pos[len(pos)-1].Offset)
		}
		pos = append(pos, po)
	}

	got := scanAll(t, l, topic, want, 0, pos[len(pos)-1].Offset, key.ID)
	if len(got) != len(actions) {
		t.Fatalf("scanned %d actions, want %d", len(got), len(actions))
	}
	for i, a := range actions {
		if err := sameAction(a, got[i]); err != nil {
			t.Errorf("action %d (%s): %v", i, a.Header.Kind(), err)
		}
		if got[i].PartitionOffset != pos[i] {
			t.Errorf("action %d at %s, produced at %s", i, got[i].PartitionOffset, pos[i])
		}
	}

	t.Run("sub-range", func(t *testing.T) {
		got := scanAll(t, l, topic, want, pos[2].Offset, pos[4].Offset, key.ID)
		if len(got) != 3 || got[0].Offset != pos[2].Offset || got[2].Offset != pos[4].Offset {
			t.Fatalf("scan [%d, %d] returned %d actions %v", pos[2].Offset, pos[4].Offset, len(got), got)
		}
	})
	t.Run("empty range", func(t *testing.T) {
		if got := scanAll(t, l, topic, want, 5, 4, key.ID); len(got) != 0 {
			t.Fatalf("scan of an empty range returned %d actions", len(got))
		}
	})
	t.Run("fn error is returned as is", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := l.Scan(testCtx(t), topic, want, 0, pos[len(pos)-1].Offset, key.ID, func(journal.ActionRecord) error {
			n++
			return stop
		})
		if err != stop || n != 1 {
			t.Fatalf("scan = %v after %d calls, want the fn error after 1", err, n)
		}
	})
}

func TestLog_Produce_PartitionForKey(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	seen := map[int32]bool{}
	for i := range 40 {
		id := fmt.Sprintf("journal-%d", i)
		po := produce(t, l, markAction(journal.Key{Topic: topic, ID: id}, "m"))
		if want := kafka.PartitionForKey(id, testPartitions); po.Partition != want {
			t.Errorf("%s landed on partition %d, PartitionForKey says %d", id, po.Partition, want)
		}
		seen[po.Partition] = true
	}
	if len(seen) != testPartitions {
		t.Errorf("40 journals used partitions %v, want all %d", seen, testPartitions)
	}
}

func TestLog_Produce_Concurrent(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	const n = 500
	produce(t, l, markAction(journal.Key{Topic: topic, ID: "warm-up"}, "m")) // connections, metadata

	start := time.Now()
	for i := range n {
		produce(t, l, markAction(journal.Key{Topic: topic, ID: fmt.Sprintf("seq-%d", i%20)}, "m"))
	}
	sequential := time.Since(start)

	start = time.Now()
	produceConcurrently(t, l, topic, "con", n)
	concurrent := time.Since(start)
	t.Logf("%d produces: sequential %s (%s each), concurrent %s (%.1fx faster)",
		n, sequential.Round(time.Millisecond), (sequential / n).Round(time.Microsecond),
		concurrent.Round(time.Millisecond), float64(sequential)/float64(concurrent))
}

// produceConcurrently makes n concurrent Produce calls of marks over 20 journals (prefix-0 … prefix-19)
// and fails t on an error or on two acknowledgements at one offset.
func produceConcurrently(t *testing.T, l *kafka.Log, topic, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var offsets sync.Map
	for i := range n {
		wg.Go(func() {
			po, err := l.Produce(testCtx(t), markAction(journal.Key{Topic: topic, ID: fmt.Sprintf("%s-%d", prefix, i%20)}, "m"))
			if err != nil {
				errs <- err
				return
			}
			if _, dup := offsets.LoadOrStore(po, i); dup {
				errs <- fmt.Errorf("two appends acknowledged at %s", po)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLog_Scan_OtherJournals(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	ids := idsOnPartition(testenv.Name("j"), 2, 3) // three journals sharing partition 2
	ours := journal.Key{Topic: topic, ID: ids[0]}

	var want []journal.Action
	var last journal.PartitionOffset
	for i := range 5 {
		a := appendOf(t, ours, journal.SeqNr(i+1), journal.SeqNr(i+1), i%2 == 1)
		produce(t, l, a)
		want = append(want, a)
		for _, other := range ids[1:] {
			last = produce(t, l, appendOf(t, journal.Key{Topic: topic, ID: other}, journal.SeqNr(i+1), journal.SeqNr(i+1), false))
		}
		// A prefix of our id is another journal.
		produce(t, l, markAction(journal.Key{Topic: topic, ID: ids[0][:len(ids[0])-1]}, "m"))
	}
	if last.Partition != 2 {
		t.Fatalf("journals landed on partition %d, want 2", last.Partition)
	}
	got := scanAll(t, l, topic, 2, 0, last.Offset, ours.ID)
	if len(got) != len(want) {
		t.Fatalf("scanned %d actions of %s, want %d", len(got), ours.ID, len(want))
	}
	for i := range want {
		if err := sameAction(want[i], got[i]); err != nil {
			t.Errorf("action %d: %v", i, err)
		}
	}
}

func TestLog_Scan_MalformedHeader(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	p := kafka.PartitionForKey(key.ID, testPartitions)

	first := produce(t, l, appendOf(t, key, 1, 1, false))
	// Records written by someone else: a garbage header for our id, and one for another journal.
	garbage := produceRaw(t, brokers, topic, p, key.ID, `{"append":{"range":`)
	produceRaw(t, brokers, topic, p, "other", `{garbage`)
	last := produce(t, l, markAction(key, "m"))

	err := l.Scan(testCtx(t), topic, p, first.Offset, last.Offset, key.ID, func(journal.ActionRecord) error { return nil })
	if !errors.Is(err, journal.ErrDataIntegrity) || !errors.Is(err, journal.ErrMalformedHeader) {
		t.Fatalf("scan = %v, want ErrDataIntegrity and ErrMalformedHeader", err)
	}
	if where := fmt.Sprintf("%s/%d at offset %d", topic, p, garbage); !strings.Contains(err.Error(), where) {
		t.Errorf("error %q does not say %q", err, where)
	}

	// Another journal's garbage is not our problem.
	other := idsOnPartition("clean", p, 1)[0]
	if got := scanAll(t, l, topic, p, first.Offset, last.Offset, other); len(got) != 0 {
		t.Errorf("scan of %s returned %d actions", other, len(got))
	}
}

// produceRaw writes a record with the given action header bytes, bypassing the codec; key "" means
// a record without a key.
func produceRaw(tb testing.TB, brokers []string, topic string, partition int32, key, header string) int64 {
	tb.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		tb.Fatalf("producer: %v", err)
	}
	defer p.Close()
	msg := &sarama.ProducerMessage{
		Topic: topic, Partition: partition,
		Headers: []sarama.RecordHeader{{Key: []byte(journal.HeaderKey), Value: []byte(header)}},
	}
	if key != "" {
		msg.Key = sarama.StringEncoder(key)
	}
	_, offset, err := p.SendMessage(msg)
	if err != nil {
		tb.Fatalf("produce raw: %v", err)
	}
	return offset
}

func TestLog_Scan_BelowLogStart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	p := kafka.PartitionForKey(key.ID, testPartitions)
	var pos []journal.PartitionOffset
	for i := range 6 {
		pos = append(pos, produce(t, l, appendOf(t, key, journal.SeqNr(i+1), journal.SeqNr(i+1), false)))
	}
	deleteRecords(t, brokers, topic, p, pos[3].Offset) // as retention would

	got := scanAll(t, l, topic, p, 0, pos[5].Offset, key.ID)
	if len(got) != 3 || got[0].Offset != pos[3].Offset {
		t.Fatalf("scan from 0 after the log start moved to %d returned %d actions %v", pos[3].Offset, len(got), got)
	}
}

func TestLog_Scan_WaitsForRecords(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	first := produce(t, l, markAction(key, "m0"))

	t.Run("until to is written", func(t *testing.T) {
		produced := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			_, err := l.Produce(context.Background(), markAction(key, "m1"))
			produced <- err
		}()
		got := scanAll(t, l, topic, first.Partition, first.Offset, first.Offset+1, key.ID)
		if err := <-produced; err != nil {
			t.Fatalf("produce: %v", err)
		}
		if len(got) != 2 || got[1].Header.(*journal.MarkHeader).ID != "m1" {
			t.Fatalf("scan up to an offset written later returned %v", got)
		}
	})
	t.Run("until ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := l.Scan(ctx, topic, first.Partition, first.Offset, first.Offset+100, key.ID, func(journal.ActionRecord) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("scan = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("scan returned %s after its deadline of 200ms", d)
		}
	})
	// The consumer left waiting for a fetch goes back to the pool once the fetch returns (the
	// broker answers within the fetch wait, 500 ms).
	time.Sleep(time.Second)
	scanAll(t, l, topic, first.Partition, first.Offset, first.Offset, key.ID)
	if n := l.ConsumersOpened(kafka.PurposeScan); n != 1 {
		t.Errorf("opened %d scan consumers for sequential scans, want 1", n)
	}
}

func deleteRecords(tb testing.TB, brokers []string, topic string, partition int32, before int64) {
	tb.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		tb.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords(topic, map[int32]int64{partition: before}); err != nil {
		tb.Fatalf("delete records: %v", err)
	}
}

func TestLog_Scan_PoolBound(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	reg := prometheus.NewRegistry()
	l := newLog(t, brokers, kafka.Config{PoolSize: 2, Registerer: reg})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	var last journal.PartitionOffset
	for i := range 10 {
		last = produce(t, l, appendOf(t, key, journal.SeqNr(i+1), journal.SeqNr(i+1), false))
	}

	const scans = 5
	var active, peak atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, scans)
	for range scans {
		wg.Go(func() {
			n := 0
			err := l.Scan(testCtx(t), topic, last.Partition, 0, last.Offset, key.ID, func(journal.ActionRecord) error {
				if n == 0 { // count this scan as active while it consumes
					a := active.Add(1)
					for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
					}
				}
				n++
				time.Sleep(10 * time.Millisecond)
				if n == 10 {
					active.Add(-1)
				}
				return nil
			})
			if err == nil && n != 10 {
				err = fmt.Errorf("scan saw %d actions, want 10", n)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d scans consumed at once with a pool of 2", p)
	}
	if n := l.ConsumersOpened(kafka.PurposeScan); n < 1 || n > 2 {
		t.Errorf("opened %d scan consumers with a pool of 2", n)
	}
	if open := gauge(t, reg, "kjournal_kafka_consumers_open", kafka.PurposeScan); open > 2 {
		t.Errorf("kjournal_kafka_consumers_open{purpose=scan} = %v", open)
	}
	t.Logf("peak concurrent scans %d, scan consumers opened %d", peak.Load(), l.ConsumersOpened(kafka.PurposeScan))
}

func TestLog_Scan_PoolIdleTimeout(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	reg := prometheus.NewRegistry()
	l := newLog(t, brokers, kafka.Config{PoolIdleTimeout: 200 * time.Millisecond, Registerer: reg})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	po := produce(t, l, markAction(key, "m"))

	scanAll(t, l, topic, po.Partition, 0, po.Offset, key.ID)
	scanAll(t, l, topic, po.Partition, 0, po.Offset, key.ID)
	if n := l.ConsumersOpened(kafka.PurposeScan); n != 1 {
		t.Fatalf("two scans in a row opened %d consumers, want 1 reused", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gauge(t, reg, "kjournal_kafka_consumers_open", kafka.PurposeScan) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle scan consumer not closed after the idle timeout")
		}
		time.Sleep(50 * time.Millisecond)
	}
	scanAll(t, l, topic, po.Partition, 0, po.Offset, key.ID)
	if n := l.ConsumersOpened(kafka.PurposeScan); n != 2 {
		t.Fatalf("scan after the idle timeout: %d consumers opened in all, want 2", n)
	}
}

// gauge returns the value of the gauge name{purpose=purpose} in reg (0 when absent).
func gauge(tb testing.TB, reg *prometheus.Registry, name, purpose string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "purpose" && lp.GetValue() == purpose {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func TestLog_Follow(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	restarts := &restartLog{t: t}
	l := newLog(t, brokers, kafka.Config{Logger: hclog.New(&hclog.LoggerOptions{Output: restarts, Level: hclog.Warn})})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	p := kafka.PartitionForKey(key.ID, testPartitions)

	before := []journal.PartitionOffset{
		produce(t, l, appendOf(t, key, 1, 1, false)),
		produce(t, l, appendOf(t, key, 2, 2, false)),
	}
	produceRaw(t, brokers, topic, p, "", `{"mark":{"id":"x"}}`) // no key
	garbage := produceRaw(t, brokers, topic, p, key.ID, `not json`)

	type seen struct {
		partition int32
		rec       journal.LogRecord
	}
	got := make(chan seen, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// Our partition from the second append; the others from their start (absent from the map).
		done <- l.Follow(ctx, topic, map[int32]int64{p: before[1].Offset}, func(partition int32, batch []journal.LogRecord) {
			for _, r := range batch {
				got <- seen{partition, r}
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("follow returned %v after cancel, want context.Canceled", err)
		}
	})

	next := func() seen {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(30 * time.Second):
			t.Fatal("follow delivered nothing within 30 s")
			return seen{}
		}
	}
	expectAction := func(kind journal.ActionKind, offset int64) {
		t.Helper()
		s := next()
		if s.partition != p || s.rec.Offset != offset || s.rec.Err != nil || s.rec.Action == nil || s.rec.Action.Header.Kind() != kind {
			t.Fatalf("got %d:%d %+v (action %+v), want %s at %d:%d", s.partition, s.rec.Offset, s.rec, s.rec.Action, kind, p, offset)
		}
	}
	expectAction(journal.ActionAppend, before[1].Offset)
	if s := next(); s.rec.ID != "" || s.rec.Action != nil || s.rec.Offset != before[1].Offset+1 {
		t.Fatalf("record without a key: got %+v", s.rec)
	}
	if s := next(); s.rec.ID != key.ID || s.rec.Action != nil || !errors.Is(s.rec.Err, journal.ErrDataIntegrity) || s.rec.Offset != garbage {
		t.Fatalf("record with a garbage header: got %+v", s.rec)
	}

	// Produced after Follow started: appends (with their values) and marks, in order.
	a := appendOf(t, key, 3, 4, true)
	after := []journal.PartitionOffset{
		produce(t, l, a),
		produce(t, l, markAction(key, "m1")),
		produce(t, l, markAction(key, "m2")),
	}
	s := next()
	if s.rec.Action == nil || s.rec.Offset != after[0].Offset {
		t.Fatalf("got %+v, want the append at %d", s.rec, after[0].Offset)
	}
	if err := sameAction(a, *s.rec.Action); err != nil {
		t.Errorf("followed append: %v", err)
	}
	expectAction(journal.ActionMark, after[1].Offset)
	expectAction(journal.ActionMark, after[2].Offset)

	// Other partitions start at their oldest offset.
	other := journal.Key{Topic: topic, ID: idsOnPartition("other", (p+1)%testPartitions, 1)[0]}
	po := produce(t, l, markAction(other, "m"))
	s = next()
	if s.partition != po.Partition || s.rec.Offset != po.Offset || s.rec.ID != other.ID {
		t.Fatalf("got %d:%d %q, want %s's mark at %s", s.partition, s.rec.Offset, s.rec.ID, other.ID, po)
	}
	// One consumer for every partition; a consumer that failed (a broker answering a just-created
	// topic's metadata late, under load) is restarted, and its cause is logged above.
	if n := l.ConsumersOpened(kafka.PurposeFollow); n != 1+restarts.n.Load() {
		t.Errorf("follow opened %d consumers after %d restarts, want 1 per start", n, restarts.n.Load())
	}
}

// restartLog is a Log's logger in a test: it counts the follower's restarts and shows their cause.
type restartLog struct {
	t *testing.T
	n atomic.Int64
}

func (r *restartLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "follow: consumer failed, restarting") {
		r.n.Add(1)
	}
	r.t.Logf("log: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestLog_Follow_BelowLogStart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	p := kafka.PartitionForKey(key.ID, testPartitions)
	var pos []journal.PartitionOffset
	for range 4 {
		pos = append(pos, produce(t, l, markAction(key, "m")))
	}
	deleteRecords(t, brokers, topic, p, pos[2].Offset)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan int64, 1)
	err := l.Follow(ctx, topic, map[int32]int64{p: pos[0].Offset}, func(partition int32, batch []journal.LogRecord) {
		if partition == p {
			first <- batch[0].Offset
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("follow = %v", err)
	}
	if got := <-first; got != pos[2].Offset {
		t.Fatalf("follow from %d after the log start moved to %d began at %d", pos[0].Offset, pos[2].Offset, got)
	}
}

// TestLog_Follow_Restart deletes and recreates the followed topic under the follower: its fetches
// fail (unknown topic, or an offset beyond the end of the new topic), Follow restarts its consumer,
// and keeps delivering what is produced to the new topic.
func TestLog_Follow_Restart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	before := produce(t, l, markAction(key, "before"))

	got := make(chan journal.LogRecord, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, topic, nil, func(_ int32, batch []journal.LogRecord) {
			for _, r := range batch {
				got <- r
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case r := <-got:
		if r.Offset != before.Offset {
			t.Fatalf("first record at %d, want %d", r.Offset, before.Offset)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow delivered nothing within 30 s")
	}

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	start := time.Now()
	if err := admin.DeleteTopic(topic); err != nil {
		t.Fatal(err)
	}
	for { // the deletion completes asynchronously; the follower's metadata lookups may recreate it
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: testPartitions, ReplicationFactor: 1}, false)
		if err == nil || errors.Is(err, sarama.ErrTopicAlreadyExists) {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("recreate %s: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Nothing is produced until the follower restarted: its position is beyond the end of the new,
	// empty topic, so its fetches fail.
	for l.ConsumersOpened(kafka.PurposeFollow) < 2 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("follow did not restart its consumer within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Where the restarted follower resumes depends on when it restarted (before the recreation
	// completed, sarama follows the topic by name and keeps the old offset): produce until a new
	// mark comes through.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case r := <-got:
			if r.Action != nil && r.Action.Header.(*journal.MarkHeader).ID != "before" {
				t.Logf("delivering again %s after the topic was deleted, %d consumers opened, %d marks produced",
					time.Since(start).Round(time.Millisecond), l.ConsumersOpened(kafka.PurposeFollow), i)
				return
			}
		case <-tick.C:
			if time.Since(start) > 30*time.Second {
				t.Fatal("follow delivered nothing produced to the recreated topic within 30 s")
			}
			i++
			if _, err := l.Produce(testCtx(t), markAction(key, fmt.Sprintf("after-%d", i))); err != nil {
				t.Logf("produce to the recreated topic: %v", err)
			}
		}
	}
}

func TestLog_Partitions(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	ps, err := l.Partitions(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ps, []int32{0, 1, 2, 3}) {
		t.Fatalf("partitions = %v", ps)
	}
}

func TestLog_Close(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l, err := kafka.New(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	key := journal.Key{Topic: topic, ID: testenv.Name("j")}
	produce(t, l, markAction(key, "m"))

	// Appends in flight when Close starts complete (or fail) rather than hang.
	var wg sync.WaitGroup
	var ok, closed atomic.Int32
	for range 50 {
		wg.Go(func() {
			_, err := l.Produce(context.Background(), markAction(key, "m"))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, journal.ErrClosed):
				closed.Add(1)
			default:
				t.Errorf("produce during close: %v", err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := l.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	wg.Wait()
	t.Logf("during close: %d appends acknowledged, %d refused", ok.Load(), closed.Load())

	if _, err := l.Produce(testCtx(t), markAction(key, "m")); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("produce after close = %v, want ErrClosed", err)
	}
	if err := l.Scan(testCtx(t), topic, 0, 0, 10, key.ID, func(journal.ActionRecord) error { return nil }); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("scan after close = %v, want ErrClosed", err)
	}
	if err := l.Follow(testCtx(t), topic, nil, func(int32, []journal.LogRecord) {}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("follow after close = %v, want ErrClosed", err)
	}
	if _, err := l.Partitions(testCtx(t), topic); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("partitions after close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestLog_Produce_ContextCanceled(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Produce(ctx, markAction(journal.Key{Topic: topic, ID: "j"}, "m")); !errors.Is(err, context.Canceled) {
		t.Fatalf("produce with a canceled ctx = %v", err)
	}
}

func TestNew_Config(t *testing.T) {
	for name, cfg := range map[string]kafka.Config{
		"no brokers":  {},
		"old version": {Brokers: []string{"127.0.0.1:1"}, Version: sarama.V2_0_0_0},
		"negative":    {Brokers: []string{"127.0.0.1:1"}, PoolSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if l, err := kafka.New(cfg); err == nil {
				_ = l.Close()
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		_, err := kafka.New(kafka.Config{Brokers: []string{"127.0.0.1:1"}})
		if !errors.Is(err, journal.ErrKafkaUnavailable) {
			t.Fatalf("New with no broker = %v, want ErrKafkaUnavailable", err)
		}
	})
}
