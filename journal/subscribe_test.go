package journal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
)

// TestSubscribe_ExactlyOnceWhileTheIndexMoves runs subscriptions while a writer appends to the
// subscribed journal and to others on the same partitions, and a replicator moves pointer2 at random
// moments (so the head cache trims what a subscriber has not taken yet), with an index bound so small
// that it also evicts. Subscribers take random batch sizes at random moments. Each must get 1..n of
// its journal exactly once and in order, whatever mix of following and catch-up reads served it; the
// topic subscription must get every event of the journal in offset order.
func TestSubscribe_ExactlyOnceWhileTheIndexMoves(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rng := rand.New(rand.NewPCG(seed, 7))
			log := &journaltest.Log{NumPartitions: 2}
			ev := &journaltest.Eventual{}
			js, reg := newCachedJournals(t, log, ev, journal.HeadCacheConfig{MaxActions: 6, PollInterval: 2 * time.Millisecond})
			defer js.Close(ctx)
			const topic, n = "journal", 120
			key := journal.Key{Topic: topic, ID: "subscribed"}
			j := js.Journal(key)
			if _, err := j.Append(ctx, events(1), journal.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			all, err := js.SubscribeAll(ctx, topic, journal.TopicStart{})
			if err != nil {
				t.Fatal(err)
			}

			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the writer and the replicator
				defer wg.Done()
				wrng := rand.New(rand.NewPCG(seed, 11))
				for next := journal.SeqNr(2); next <= n; {
					batch := journal.SeqNr(1 + wrng.IntN(3))
					var es []journal.Event
					for s := next; s < next+batch && s <= n; s++ {
						es = append(es, journal.Event{SeqNr: s})
					}
					if _, err := j.Append(ctx, es, journal.AppendOptions{}); err != nil {
						t.Error(err)
						return
					}
					next += journal.SeqNr(len(es))
					other := js.Journal(journal.Key{Topic: topic, ID: fmt.Sprint("noise-", wrng.IntN(5))})
					if _, err := other.Append(ctx, events(journal.SeqNr(next)), journal.AppendOptions{}); err != nil {
						t.Error(err)
						return
					}
					if wrng.IntN(4) == 0 {
						for p := range int32(2) {
							if recs := log.Records(topic, p); len(recs) > 0 {
								if err := ev.Replicate(log, topic, p, recs[len(recs)-1].Offset); err != nil {
									t.Error(err)
									return
								}
							}
						}
					}
					time.Sleep(time.Duration(wrng.IntN(300)) * time.Microsecond)
				}
			}()

			for _, from := range []journal.SeqNr{1, 40} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					srng := rand.New(rand.NewPCG(seed, uint64(from)))
					sub, err := j.Subscribe(from)
					if err != nil {
						t.Error(err)
						return
					}
					defer sub.Close()
					var got []journal.SeqNr
					for len(got) < int(n-from+1) {
						es, err := sub.Next(ctx, 1+srng.IntN(5), 1<<20)
						if err != nil {
							t.Errorf("from %d after %v: %v", from, got, err)
							return
						}
						for _, e := range es {
							got = append(got, e.SeqNr)
						}
						time.Sleep(time.Duration(srng.IntN(500)) * time.Microsecond) // a slow subscriber, sometimes
					}
					want := make([]journal.SeqNr, 0, n)
					for s := from; s <= n; s++ {
						want = append(want, s)
					}
					if !slices.Equal(got, want) {
						t.Errorf("from %d: got %v", from, got)
					}
				}()
			}

			var topicGot []journal.SeqNr
			lastOffset := map[int32]int64{}
			for len(topicGot) < n {
				es, err := all.Next(ctx, 1+rng.IntN(7), 1<<20)
				if err != nil {
					t.Fatalf("subscribe_all after %v: %v", topicGot, err)
				}
				for _, e := range es {
					if o, ok := lastOffset[e.Partition]; ok && e.Offset < o {
						t.Fatalf("partition %d: offset %d after %d", e.Partition, e.Offset, o)
					}
					lastOffset[e.Partition] = e.Offset
					if e.Key == key {
						topicGot = append(topicGot, e.SeqNr)
					}
				}
			}
			for i, s := range topicGot {
				if s != journal.SeqNr(i+1) {
					t.Fatalf("subscribe_all delivered the journal as %v", topicGot)
				}
			}
			wg.Wait()
			// Both subscriptions started with a read; more reads mean they fell behind the index and
			// caught up again, the path this test is about.
			reads, scans := subscriptionSteps(t, reg, "catch_up"), subscriptionSteps(t, reg, "topic_scan")
			t.Logf("catch-up reads %v, subscribe_all scans %v", reads, scans)
			if reads <= 2 {
				t.Errorf("the subscriptions never caught up again (%v reads): the test did not exercise it", reads)
			}
		})
	}
}

// TestSubscribe_PurgeEndsDeleteDoesNot: a Delete while following delivers nothing and changes nothing;
// a Purge ends the subscription with ErrJournalPurged after the events before it.
func TestSubscribe_PurgeEndsDeleteDoesNot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := &journaltest.Log{NumPartitions: 1}
	js, _ := newCachedJournals(t, log, &journaltest.Eventual{}, journal.HeadCacheConfig{})
	defer js.Close(ctx)
	j := js.Journal(journal.Key{Topic: "journal", ID: "p"})
	if _, err := j.Append(ctx, events(1, 2), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, err := j.Subscribe(1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if es, err := sub.Next(ctx, 10, 1<<20); err != nil || len(es) != 2 {
		t.Fatalf("catch-up: %v %v", es, err)
	}
	if _, _, err := j.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, events(3), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if es, err := sub.Next(ctx, 10, 1<<20); err != nil || len(es) != 1 || es[0].SeqNr != 3 {
		t.Fatalf("after the delete: %v %v", es, err)
	}
	if _, err := j.Append(ctx, events(4), journal.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if es, err := sub.Next(ctx, 10, 1<<20); err != nil || len(es) != 1 || es[0].SeqNr != 4 {
		t.Fatalf("before the purge: %v %v", es, err)
	}
	if _, err := sub.Next(ctx, 10, 1<<20); !errors.Is(err, journal.ErrJournalPurged) {
		t.Fatalf("after the purge: %v", err)
	}
}

func subscriptionSteps(t *testing.T, reg *prometheus.Registry, step string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kjournal_journal_subscription_steps_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == step {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
