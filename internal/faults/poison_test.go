package faults_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// poisonRecords (item 6): two poison records on a journal topic — one with a garbage
// "journal.action" header (journal "bad-header"), one with a valid Append header and a corrupt value
// (journal "bad-value") — and a healthy journal in the first one's partition, written after it.
//
//   - sidecar: reads of the two poisoned journals fail with DATA_INTEGRITY (not retryable), the
//     message naming topic, partition and offset; the sidecar logs it at error level and counts it in
//     kjournal_sidecar_requests_total{op="read",code="DATA_INTEGRITY"}; the healthy journal reads.
//   - replicator, stall mode (default): the partition stops at the poison record, /readyz answers 503
//     naming it, kjournal_replicator_stalled_partitions{topic} > 0, every retry is logged with
//     topic/partition/offset; the healthy journal behind it is not replicated.
//   - replicator restarted with KJOURNAL_ON_POISON=skip: both records are logged and counted in
//     kjournal_replicator_poison_records_skipped_total{topic} (= 2), everything else is replicated,
//     and once pointer2 has passed them the poisoned journals read back without the poisoned action.
func poisonRecords(t *testing.T, s *stack) {
	s.must(t, "start", "kafka", "cassandra", "sidecar")
	s.must(t, "stop", "replicator")
	s.startWith(t, []string{"KJOURNAL_ON_POISON=stall"}, "replicator")
	topic := topicName("poison")
	c := newClient(s.socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m := newModel(topic)
	partOf := map[string]int32{}
	app := func(id string, seqs ...int64) {
		rep, err := c.append(ctx, topic, id, 0, seqs...)
		if err != nil {
			t.Fatal(err)
		}
		m.appended(id, seqs...)
		partOf[id] = rep.Partition
	}
	app("bad-header", 1, 2, 3)
	app("bad-value", 1, 2, 3)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer([]string{brokers}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(id string, header, value []byte) int64 {
		_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partOf[id], Key: sarama.StringEncoder(id),
			Value: sarama.ByteEncoder(value), Timestamp: time.Now(),
			Headers: []sarama.RecordHeader{{Key: []byte(journal.HeaderKey), Value: header}}})
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	hdrOff := produce("bad-header", []byte(`{"append":{"range":`), nil)
	validHeader, err := journal.EncodeActionHeader(&journal.AppendHeader{Range: journal.SeqRange{From: 4, To: 4},
		PayloadType: journal.PayloadJSON, Origin: "faults"})
	if err != nil {
		t.Fatal(err)
	}
	valOff := produce("bad-value", validHeader, []byte(`{"events":[{"seqNr":4,`))
	t.Logf("poison records: %s/%d@%d (garbage header), %s/%d@%d (valid header, corrupt value)",
		topic, partOf["bad-header"], hdrOff, topic, partOf["bad-value"], valOff)
	// A healthy journal in the garbage header's partition, written after it.
	healthy := ""
	for i := 0; healthy == ""; i++ {
		id := fmt.Sprintf("healthy%d", i)
		rep, err := c.append(ctx, topic, id, 0, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		m.appended(id, 1, 2)
		if rep.Partition == partOf["bad-header"] {
			healthy = id
		}
	}

	// The sidecar.
	before, _ := metric(sidecarHTTP, "kjournal_sidecar_requests_total", `op="read"`, `code="DATA_INTEGRITY"`)
	for id, off := range map[string]int64{"bad-header": hdrOff, "bad-value": valOff} {
		_, err := c.read(ctx, topic, id, 10000)
		if codeOf(err) != protocol.CodeDataIntegrity || retryable(err) {
			t.Fatalf("read %s: %v, want a non-retryable DATA_INTEGRITY", id, err)
		}
		msg := err.Error()
		where := map[string]string{"bad-header": fmt.Sprintf("%s/%d at offset %d", topic, partOf[id], off),
			"bad-value": fmt.Sprintf("%s:%s at %d:%d", topic, id, partOf[id], off)}[id]
		if !strings.Contains(msg, where) {
			t.Errorf("read %s: error %q does not name %q", id, msg, where)
		}
		t.Logf("sidecar read %s: %v", id, err)
		logged := ""
		for _, line := range strings.Split(s.serverLog(t, "sidecar"), "\n") {
			if strings.Contains(line, "[ERROR]") && strings.Contains(line, "code=DATA_INTEGRITY") &&
				strings.Contains(line, topic) && strings.Contains(line, id) {
				logged = line
			}
		}
		if logged == "" {
			t.Errorf("the sidecar logged no error line for the read of %s", id)
		} else {
			t.Logf("sidecar log: %s", logged)
		}
	}
	after, _ := metric(sidecarHTTP, "kjournal_sidecar_requests_total", `op="read"`, `code="DATA_INTEGRITY"`)
	if after-before != 2 {
		t.Errorf("kjournal_sidecar_requests_total{op=read,code=DATA_INTEGRITY} rose by %v, want 2", after-before)
	}
	r, err := c.read(ctx, topic, healthy, 10000)
	if err != nil || fmt.Sprint(r.seqNrs) != "[1 2]" {
		t.Fatalf("read %s (healthy, behind the poison in its partition): %v %v", healthy, r.seqNrs, err)
	}

	// The replicator in stall mode.
	stalled := eventually(t, 30*time.Second, "replicator stalls", func() bool {
		v, ok := metric(replicatorHTTP, "kjournal_replicator_stalled_partitions", `topic="`+topic+`"`)
		return ok && v >= 1
	})
	v, _ := metric(replicatorHTTP, "kjournal_replicator_stalled_partitions", `topic="`+topic+`"`)
	code, body := httpGet(replicatorHTTP, "/readyz")
	t.Logf("stall mode: kjournal_replicator_stalled_partitions{topic} = %v after %v; /readyz %d", v, stalled.Round(time.Millisecond), code)
	for id := range map[string]bool{"bad-header": true, "bad-value": true} {
		want := fmt.Sprintf("%s/%d stalled at a poison record", topic, partOf[id])
		if !strings.Contains(body, want) {
			t.Errorf("replicator /readyz does not say %q", want)
		}
	}
	if code != 503 {
		t.Errorf("replicator /readyz %d %q, want 503 naming %s", code, body, topic)
	}
	logLine := func(off int64, p int32) string {
		for _, line := range strings.Split(s.serverLog(t, "replicator"), "\n") {
			if strings.Contains(line, "[ERROR]") && strings.Contains(line, "topic="+topic) &&
				strings.Contains(line, fmt.Sprintf("partition=%d ", p)) && strings.Contains(line, fmt.Sprintf("offset=%d ", off)) {
				return line
			}
		}
		return ""
	}
	for id, off := range map[string]int64{"bad-header": hdrOff, "bad-value": valOff} {
		line := logLine(off, partOf[id])
		if line == "" {
			t.Errorf("stall mode: no error log line names %s/%d offset %d", topic, partOf[id], off)
		} else {
			t.Logf("stall mode log: %s", line)
		}
	}
	cs := openCassandra(t)
	if got, err := cassandraSeqNrs(ctx, cs, topic, healthy); err != nil || len(got) != 0 {
		t.Errorf("stall mode: %s, behind the poison, is in Cassandra: %v %v", healthy, got, err)
	}

	// The replicator in skip mode.
	s.must(t, "stop", "replicator")
	s.startWith(t, []string{"KJOURNAL_ON_POISON=skip"}, "replicator")
	d := m.waitReplicated(t, cs, 60*time.Second)
	skipped, _ := metric(replicatorHTTP, "kjournal_replicator_poison_records_skipped_total", `topic="`+topic+`"`)
	t.Logf("skip mode: Cassandra holds every journal without the poisoned actions %v after the restart; poison_records_skipped_total{topic} = %v", d.Round(time.Millisecond), skipped)
	if skipped != 2 {
		t.Errorf("kjournal_replicator_poison_records_skipped_total{topic=%s} = %v, want 2", topic, skipped)
	}
	if code, body := httpGet(replicatorHTTP, "/readyz"); code != 200 {
		t.Errorf("skip mode: replicator /readyz %d %q", code, body)
	}
	m.checkReads(t, c)
	t.Logf("skip mode: every journal, the poisoned ones included, reads back without the poisoned action once pointer2 passed it")
}
