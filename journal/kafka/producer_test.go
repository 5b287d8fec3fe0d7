package kafka_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// Appends started one after another without waiting (ProduceAsync, as the sidecar starts a
// connection's pipelined appends) land in the order they were started, each once, with the offsets
// they were acknowledged at: the producer keeps one batch per partition out at a time.
func TestLog_ProduceAsync_KeepsOrder(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	const journals, perJournal = 8, 300
	keys := make([]journal.Key, journals)
	for i := range keys {
		keys[i] = journal.Key{Topic: topic, ID: fmt.Sprintf("order-%d", i)}
	}
	type result struct {
		po  journal.PartitionOffset
		err error
	}
	results := make([][]chan result, journals)
	for i := range results {
		results[i] = make([]chan result, perJournal)
	}
	for s := range perJournal {
		for j, key := range keys {
			ch := make(chan result, 1)
			results[j][s] = ch
			l.ProduceAsync(testCtx(t), markAction(key, fmt.Sprint(s)), func(po journal.PartitionOffset, err error) { ch <- result{po, err} })
		}
	}
	for j, key := range keys {
		var first, last journal.PartitionOffset
		for s := range perJournal {
			r := <-results[j][s]
			if r.err != nil {
				t.Fatalf("%s #%d: %v", key.ID, s, r.err)
			}
			if s == 0 {
				first = r.po
			} else if r.po.Partition != last.Partition || r.po.Offset <= last.Offset {
				t.Fatalf("%s #%d acknowledged at %s, after #%d at %s", key.ID, s, r.po, s-1, last)
			}
			last = r.po
		}
		recs := scanAll(t, l, topic, first.Partition, first.Offset, last.Offset, key.ID)
		if len(recs) != perJournal {
			t.Fatalf("%s: read %d records, want %d", key.ID, len(recs), perJournal)
		}
		for s, rec := range recs {
			if id := rec.Header.(*journal.MarkHeader).ID; id != fmt.Sprint(s) {
				t.Fatalf("%s: record %d is mark %s", key.ID, s, id)
			}
		}
	}
}

// A batch the broker refuses as too large for the topic is split and resent; a single record over the
// topic's limit fails with journal.ErrRecordTooLarge, one over the producer's own limit before it is
// sent. The appends around them are not held up or lost.
func TestLog_Produce_TooLarge(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	limit := "4096" // max.message.bytes: a batch of a few 1.5 KB records is over it, one is not
	topic := createTopic(t, brokers, 1, map[string]*string{"max.message.bytes": &limit})
	l := newLog(t, brokers, kafka.Config{MaxMessageBytes: 16 << 10})
	key := journal.Key{Topic: topic, ID: "big"}
	sized := func(n int) journal.Action { // random base64: LZ4 does not shrink it
		b := make([]byte, n*3/4)
		_, _ = rand.Read(b)
		return markAction(key, base64.StdEncoding.EncodeToString(b))
	}

	// Many records at once: they queue while the first is in flight and go out as one batch, which
	// the broker refuses; every one of them must still land, in order.
	const n = 40
	type result struct {
		po  journal.PartitionOffset
		err error
	}
	res := make([]chan result, n)
	for i := range res {
		res[i] = make(chan result, 1)
		l.ProduceAsync(testCtx(t), sized(1500), func(po journal.PartitionOffset, err error) { res[i] <- result{po, err} })
	}
	var last int64 = -1
	for i := range res {
		r := <-res[i]
		if r.err != nil {
			t.Fatalf("record %d of 1.5 KB: %v", i, r.err)
		}
		if r.po.Offset <= last {
			t.Fatalf("record %d at offset %d, after %d", i, r.po.Offset, last)
		}
		last = r.po.Offset
	}

	if _, err := l.Produce(testCtx(t), sized(8000)); !errors.Is(err, journal.ErrRecordTooLarge) {
		t.Errorf("8 KB record on a 4 KB topic: %v, want ErrRecordTooLarge", err)
	}
	if _, err := l.Produce(testCtx(t), sized(20000)); !errors.Is(err, journal.ErrRecordTooLarge) {
		t.Errorf("20 KB record over MaxMessageBytes: %v, want ErrRecordTooLarge", err)
	}
	produce(t, l, sized(100)) // the partition goes on
}

// A connection the producer used is closed under it (as when a broker restarts): the appends in flight
// and after are resent over a new connection and acknowledged once each.
func TestLog_Produce_ConnectionLost(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: topic, ID: "conn"}
	produce(t, l, markAction(key, "warm-up"))
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			if _, err := l.Produce(testCtx(t), markAction(key, fmt.Sprint(i))); err != nil {
				errs <- err
			}
		})
		if i == 100 {
			kafka.CloseProducerConnections(l)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	po := produce(t, l, markAction(key, "last"))
	seen := map[string]int{}
	for _, r := range scanAll(t, l, topic, po.Partition, 0, po.Offset, key.ID) {
		seen[r.Header.(*journal.MarkHeader).ID]++
	}
	for i := range 200 {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Errorf("mark %d written %d times", i, c)
		}
	}
}

// The first append to a topic that does not exist yet waits for the brokers to create it (the local
// stack auto-creates topics, as the original's deployments usually do).
func TestLog_Produce_NewTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	l := newLog(t, brokers, kafka.Config{})
	key := journal.Key{Topic: testenv.Name("new"), ID: "first"}
	po := produce(t, l, markAction(key, "m"))
	if recs := scanAll(t, l, key.Topic, po.Partition, po.Offset, po.Offset, key.ID); len(recs) != 1 {
		t.Fatalf("read %d records back, want 1", len(recs))
	}
}

// With a buffer of a few records, produces wait for room instead of queueing without bound, and every
// one of them is still acknowledged once.
func TestLog_Produce_BufferFull(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers)
	l := newLog(t, brokers, kafka.Config{BufferBytes: 2000})
	produceConcurrently(t, l, topic, "buf", 400)
}
