package sidecar_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kjournal/kjournal/protocol"
)

// BenchmarkSidecar_Appends measures the sidecar's own path for appends (socket, framing, decoding,
// dispatch, replies) over the in-memory backends, 16 connections with 4 appends in flight each. It
// reports the process's CPU time per append (cpu-µs/append), the harness's client included: compare
// two versions of the sidecar with the same benchmark. make bench's P2 measures the real thing, with
// Kafka.
func BenchmarkSidecar_Appends(b *testing.B) {
	h := startFake(b)
	const conns, perConn = 16, 4
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = connect(b, h.socket)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	before := cpuTime(b)
	b.ResetTimer()
	for i, c := range clients {
		for k := range perConn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("bench-%d-%d", i, k)
				for seq := int64(1); left.Add(-1) >= 0; seq++ {
					c.mustAppend(id, []protocol.Event{{SeqNr: seq, PayloadType: protocol.PayloadBinary, Payload: make([]byte, 200)}})
				}
			}()
		}
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/append")
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
