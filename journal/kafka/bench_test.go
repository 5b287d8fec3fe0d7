package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
