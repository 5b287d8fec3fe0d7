package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// BenchmarkLog_Produce appends from b.N concurrent callers (RunParallel) to 64 journals: the batching
// of the shared producer.
func BenchmarkLog_Produce(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	topic := newTopic(b, brokers)
	l := newLog(b, brokers, kafka.Config{})
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("j-%d", n.Add(1)%64)
			if _, err := l.Produce(context.Background(), markAction(journal.Key{Topic: topic, ID: id}, "m")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLog_Scan is a read's fallback without the head cache: scan a journal's partition from
// the start up to a marker, with 20 actions of the journal among 80 of others.
func BenchmarkLog_Scan(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	topic := newTopic(b, brokers)
	l := newLog(b, brokers, kafka.Config{})
	ids := idsOnPartition("bench", 1, 5)
	for i := range 20 {
		for _, id := range ids {
			produce(b, l, appendOf(b, journal.Key{Topic: topic, ID: id}, journal.SeqNr(i+1), journal.SeqNr(i+1), false))
		}
	}
	marker := produce(b, l, markAction(journal.Key{Topic: topic, ID: ids[0]}, "m"))
	b.ResetTimer()
	for b.Loop() {
		n := 0
		err := l.Scan(context.Background(), topic, 1, 0, marker.Offset-1, ids[0], func(journal.ActionRecord) error {
			n++
			return nil
		})
		if err != nil || n != 20 {
			b.Fatalf("scan: %d actions, %v", n, err)
		}
	}
	b.ReportMetric(float64(l.ConsumersOpened(kafka.PurposeScan)), "consumers")
}

// BenchmarkLog_ProduceAsync keeps 1,000 appends in flight over 1,000 journals (as the sidecar does for
// pipelining clients) and reports the process's CPU time per append: the producer's own cost, Kafka's
// round trips excluded.
func BenchmarkLog_ProduceAsync(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	topic := newTopic(b, brokers)
	l := newLog(b, brokers, kafka.Config{})
	const inFlight = 1000
	actions := make([]journal.Action, inFlight)
	for i := range actions {
		actions[i] = appendOf(b, journal.Key{Topic: topic, ID: fmt.Sprintf("j-%d", i)}, 1, 1, true)
	}
	slots := make(chan int, inFlight)
	for i := range inFlight {
		slots <- i
	}
	var failed atomic.Int64
	before := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := <-slots
		l.ProduceAsync(context.Background(), actions[k], func(_ journal.PartitionOffset, err error) {
			if err != nil {
				failed.Add(1)
			}
			slots <- k
		})
	}
	for range inFlight {
		<-slots
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/append")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d appends failed", n)
	}
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
