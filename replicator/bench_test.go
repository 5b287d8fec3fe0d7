package replicator_test

import (
	"testing"
	"time"

	"github.com/kjournal/kjournal/replicator/replicatortest"
)

// BenchmarkReplicator_CatchUp measures how fast one replicator replicates a backlog: 200 journals
// of 100 events, appended 1 to 5 events at a time, waiting in a topic of 4 partitions. It reports
// events/s and records/s from the replicator's start (joining the group included) until pointer2
// reached the end of every partition. Run it with -benchtime=1x.
func BenchmarkReplicator_CatchUp(b *testing.B) {
	e := newEnv(b)
	for i := range b.N {
		b.StopTimer()
		topic := e.topic("bench" + string(rune('a'+i%26)))
		w := replicatortest.Writer{Journals: e.js, Topic: topic, Count: 200, Events: 100, Workers: 32, DeleteEvery: -1, PurgeEvery: -1}
		stats, err := w.Run(testCtx(b))
		if err != nil {
			b.Fatal(err)
		}
		en := e.markEnds(b, topic)
		records := 0
		for _, o := range en {
			records += int(o) + 1
		}
		b.StartTimer()
		began := time.Now()
		r := start(b, e.config(b))
		e.waitReplicated(b, topic, en, 5*time.Minute)
		took := time.Since(began)
		b.StopTimer()
		r.stop(b)
		b.ReportMetric(float64(stats.Events)/took.Seconds(), "events/s")
		b.ReportMetric(float64(records)/took.Seconds(), "records/s")
		b.StartTimer()
	}
}
