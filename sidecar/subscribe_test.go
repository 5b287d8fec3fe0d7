package sidecar_test

// subscribe and subscribe_all through the socket on the real stack.

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
	"github.com/kjournal/kjournal/protocol"
)

// subscription is an open subscribe or subscribe_all stream of the test client.
type subscription struct {
	c  *client
	id uint64
	ch <-chan protocol.Reply
}

func (c *client) subscribe(req protocol.Request) *subscription {
	id, ch := c.send(req, 1024)
	return &subscription{c: c, id: id, ch: ch}
}

// next waits for the next frame of the stream, granting back the credit its events spent.
func (s *subscription) next(tb testing.TB) protocol.Reply {
	tb.Helper()
	select {
	case rep := <-s.ch:
		n := 0
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			n = len(r.Events)
		case *protocol.SubscribeAllEvents:
			n = len(r.Events)
		}
		if n > 0 {
			s.c.send(&protocol.CreditRequest{ID: s.id, N: uint32(n)}, 0)
		}
		return rep
	case <-time.After(20 * time.Second):
		tb.Fatalf("subscription %d: nothing within 20s", s.id)
		return nil
	}
}

// events collects events frames until it has n events; any other frame fails the test.
func (s *subscription) events(tb testing.TB, n int) []protocol.EventRecord {
	tb.Helper()
	var out []protocol.EventRecord
	for len(out) < n {
		rep := s.next(tb)
		ev, ok := rep.(*protocol.ReadEvents)
		if !ok {
			tb.Fatalf("after %d events: %#v", len(out), rep)
		}
		out = append(out, ev.Events...)
	}
	return out
}

func (s *subscription) topicEvents(tb testing.TB, n int) []protocol.TopicEventRecord {
	tb.Helper()
	var out []protocol.TopicEventRecord
	for len(out) < n {
		rep := s.next(tb)
		ev, ok := rep.(*protocol.SubscribeAllEvents)
		if !ok {
			tb.Fatalf("after %d events: %#v", len(out), rep)
		}
		out = append(out, ev.Events...)
	}
	return out
}

// quiet fails the test if the stream sends anything within d.
func (s *subscription) quiet(tb testing.TB, d time.Duration) {
	tb.Helper()
	select {
	case rep := <-s.ch:
		tb.Fatalf("unexpected frame %#v", rep)
	case <-time.After(d):
	}
}

func (s *subscription) cancel(tb testing.TB) {
	tb.Helper()
	s.c.send(&protocol.CancelRequest{ID: s.id}, 0)
	for {
		rep := s.next(tb)
		if _, ok := rep.(*protocol.Error); ok {
			wantError(tb, rep, protocol.CodeCancelled)
			return
		}
	}
}

func TestSubscribe_CatchUpFollowDeletePurge(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	j := testenv.Name("sub")
	c.mustAppend(j, textEvents(1, 10))
	s := c.subscribe(&protocol.SubscribeRequest{Journal: j, From: 3, Credit: 4})
	// Appends race with the catch-up: whichever side of the Mark they land, each event comes once.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for from := int64(11); from <= 40; from += 3 {
			c.mustAppend(j, textEvents(from, from+2))
		}
	}()
	got := s.events(t, 40-3+1)
	<-done
	if !reflect.DeepEqual(seqNrsOf(got), span(3, 40)) {
		t.Fatalf("subscription delivered %v", seqNrsOf(got))
	}
	if got[0].Payload != "e3" || got[len(got)-1].Payload != "e40" {
		t.Fatalf("payloads %v .. %v", got[0].Payload, got[len(got)-1].Payload)
	}
	// A retried append (seqNrs already delivered) and a delete deliver nothing; what follows does.
	c.mustAppend(j, textEvents(39, 40))
	if rep, ok := c.do(&protocol.DeleteRequest{Journal: j, To: 40}).(*protocol.DeleteReply); !ok {
		t.Fatalf("delete: %#v", rep)
	}
	s.quiet(t, 300*time.Millisecond)
	c.mustAppend(j, textEvents(41, 41))
	if got := s.events(t, 1); got[0].SeqNr != 41 {
		t.Fatalf("after the delete: %v", seqNrsOf(got))
	}
	if _, ok := c.do(&protocol.PurgeRequest{Journal: j}).(*protocol.PurgeReply); !ok {
		t.Fatal("purge failed")
	}
	e := wantError(t, s.next(t), protocol.CodeJournalPurged)
	if e.ID != s.id || e.Retryable {
		t.Fatalf("purge ended the stream with %+v", e)
	}
	eventually(t, "the stream released", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 0 })
}

func TestSubscribe_CancelAndReuseID(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	j := testenv.Name("subcancel")
	c.mustAppend(j, textEvents(1, 3))
	s := c.subscribe(&protocol.SubscribeRequest{Journal: j, Credit: 10})
	s.events(t, 3)
	s.cancel(t)
	eventually(t, "the stream released", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == 0 })
	s2 := c.subscribe(&protocol.SubscribeRequest{ID: s.id, Journal: j, From: 2, Credit: 10})
	if got := s2.events(t, 2); !reflect.DeepEqual(seqNrsOf(got), span(2, 3)) {
		t.Fatalf("resubscribed: %v", seqNrsOf(got))
	}
}

// TestSubscribe_SlowSubscriber holds a subscriber at zero credit while far more actions than the head
// cache holds pass through the partition: the sidecar buffers nothing for it, other subscribers keep
// receiving, and once it grants credit it catches up from its position (a new read) and gets every
// event once, in order.
func TestSubscribe_SlowSubscriber(t *testing.T) {
	log, store, topic := realBackends(t)
	jreg := prometheus.NewRegistry()
	js, err := journal.New(journal.Config{Log: log, Eventual: store, Registerer: jreg, HeadCache: journal.HeadCacheConfig{MaxActions: 20}})
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, js, topic)
	c := connect(t, h.socket)
	slow, fast := testenv.Name("slow"), testenv.Name("fast")
	c.mustAppend(slow, textEvents(1, 1))
	c.mustAppend(fast, textEvents(1, 1))
	ss := c.subscribe(&protocol.SubscribeRequest{Journal: slow, Credit: 1})
	if ev, ok := c.await(ss.ch).(*protocol.ReadEvents); !ok || !reflect.DeepEqual(seqNrsOf(ev.Events), []int64{1}) {
		t.Fatalf("slow: %#v", ev)
	}
	// ss has no credit now (it was read without granting any back).
	fs := c.subscribe(&protocol.SubscribeRequest{Journal: fast, Credit: 100})
	fs.events(t, 1)
	for i := int64(2); i <= 60; i++ {
		c.mustAppend(slow, textEvents(i, i))
		c.mustAppend(fast, textEvents(i, i))
		// The fast subscriber is served while the slow one stalls.
		if got := fs.events(t, 1); got[0].SeqNr != i {
			t.Fatalf("fast subscriber got %v, want %d", seqNrsOf(got), i)
		}
	}
	select {
	case rep := <-ss.ch:
		t.Fatalf("the slow subscriber got %#v without credit", rep)
	default:
	}
	catchUps := catchUpReads(t, jreg)
	ss.c.send(&protocol.CreditRequest{ID: ss.id, N: 1000}, 0)
	if got := ss.events(t, 59); !reflect.DeepEqual(seqNrsOf(got), span(2, 60)) {
		t.Fatalf("slow subscriber resumed with %v", seqNrsOf(got))
	}
	if after := catchUpReads(t, jreg); after != catchUps+1 {
		t.Fatalf("the slow subscriber did not catch up with one read (catch-up reads %v → %v)", catchUps, after)
	}
	ss.quiet(t, 200*time.Millisecond)
}

// TestSubscribe_ManyShareOneConsumer opens many subscriptions and a subscribe_all on one sidecar and
// counts the Kafka consumers it opened: one follower for the topic, whatever the number of
// subscriptions (catch-up reads answered by the head cache open none).
func TestSubscribe_ManyShareOneConsumer(t *testing.T) {
	_, store, topic := realBackends(t)
	reg := prometheus.NewRegistry()
	log, err := kafka.New(kafka.Config{Brokers: testenv.KafkaBrokers(t), Registerer: reg, PoolSize: scanPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	js, err := journal.New(journal.Config{Log: log, Eventual: store})
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, js, topic)
	c := connect(t, h.socket)
	const n = 100
	base := testenv.Name("many")
	subs := make([]*subscription, n)
	for i := range subs {
		subs[i] = c.subscribe(&protocol.SubscribeRequest{Journal: fmt.Sprintf("%s-%d", base, i), Credit: 10})
	}
	all := c.subscribe(&protocol.SubscribeAllRequest{From: protocol.FromLatest, Credit: 1000})
	// "latest" is the log end when the sidecar starts the stream: wait for that before appending.
	eventually(t, "the subscriptions open", func() bool { return metric(t, h.reg, "kjournal_sidecar_open_streams") == n+1 })
	parallel(t, 20, func(w int) error {
		for i := w; i < n; i += 20 {
			if rep, ok := c.do(&protocol.AppendRequest{Journal: fmt.Sprintf("%s-%d", base, i), Events: textEvents(1, 2)}).(*protocol.AppendReply); !ok {
				return fmt.Errorf("append: %#v", rep)
			}
		}
		return nil
	})
	for i, s := range subs {
		if got := s.events(t, 2); !reflect.DeepEqual(seqNrsOf(got), span(1, 2)) {
			t.Fatalf("subscription %d: %v", i, seqNrsOf(got))
		}
	}
	seen := map[string]int{}
	for len(seen) < n {
		for _, e := range all.topicEvents(t, 1) {
			if len(e.Journal) > len(base) && e.Journal[:len(base)] == base {
				seen[e.Journal]++
			}
		}
	}
	if follow := log.ConsumersOpened(kafka.PurposeFollow); follow != 1 {
		t.Fatalf("%d subscriptions opened %d follow consumers, want 1", n+1, follow)
	}
	if open := metric(t, reg, "kjournal_kafka_consumers_open"); open > 1+scanPool {
		t.Fatalf("%v consumers open", open)
	}
	t.Logf("%d subscriptions: %d follow consumer, %d scan consumers opened", n+1,
		log.ConsumersOpened(kafka.PurposeFollow), log.ConsumersOpened(kafka.PurposeScan))
}

// scanPool bounds the pooled scan consumers of TestSubscribe_ManyShareOneConsumer's sidecar.
const scanPool = 4

// TestSubscribeAll_PositionsAndResume reads a topic from earliest, resumes from stored positions, and
// starts at latest.
func TestSubscribeAll_PositionsAndResume(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	topic := testenv.Name("suball")
	const journals, per = 8, 5
	for i := range journals {
		for s := int64(1); s <= per; s++ {
			if _, ok := c.do(&protocol.AppendRequest{Topic: topic, Journal: fmt.Sprintf("j%d", i), Events: textEvents(s, s)}).(*protocol.AppendReply); !ok {
				t.Fatal("append failed")
			}
		}
	}
	all := c.subscribe(&protocol.SubscribeAllRequest{Topic: topic, Credit: 7})
	got := all.topicEvents(t, journals*per)
	// Per partition in offset order; per journal in seqNr order.
	last := map[int32]int64{}
	perJournal := map[string][]int64{}
	for _, e := range got {
		if o, ok := last[e.Partition]; ok && e.Offset <= o {
			t.Fatalf("partition %d: offset %d after %d", e.Partition, e.Offset, o)
		}
		last[e.Partition] = e.Offset
		perJournal[e.Journal] = append(perJournal[e.Journal], e.SeqNr)
	}
	for i := range journals {
		if j := fmt.Sprintf("j%d", i); !reflect.DeepEqual(perJournal[j], span(1, per)) {
			t.Fatalf("%s: %v", j, perJournal[j])
		}
	}
	all.quiet(t, 200*time.Millisecond)
	all.cancel(t)

	// Resume from stored positions: the next offset of each partition after the first half.
	half := got[:len(got)/2]
	var offsets []protocol.PartitionStart
	stored := map[int32]int64{}
	for _, e := range half {
		stored[e.Partition] = e.Offset + 1
	}
	for p, o := range stored {
		offsets = append(offsets, protocol.PartitionStart{Partition: p, Offset: o})
	}
	resumed := c.subscribe(&protocol.SubscribeAllRequest{Topic: topic, Offsets: offsets, From: protocol.FromLatest, Credit: 100})
	var want []string
	for _, e := range got[len(got)/2:] {
		if _, ok := stored[e.Partition]; ok {
			want = append(want, fmt.Sprintf("%s/%d", e.Journal, e.SeqNr))
		}
	}
	var have []string
	for len(have) < len(want) {
		for _, e := range resumed.topicEvents(t, 1) {
			have = append(have, fmt.Sprintf("%s/%d", e.Journal, e.SeqNr))
		}
	}
	sort.Strings(want)
	sort.Strings(have)
	if !reflect.DeepEqual(have, want) {
		t.Fatalf("resumed with %v, want %v", have, want)
	}
	resumed.quiet(t, 200*time.Millisecond)

	// latest: only what is appended after.
	latest := c.subscribe(&protocol.SubscribeAllRequest{Topic: topic, From: protocol.FromLatest, Credit: 100})
	latest.quiet(t, 200*time.Millisecond)
	c.do(&protocol.AppendRequest{Topic: topic, Journal: "j0", Events: textEvents(per+1, per+1)})
	for _, s := range []*subscription{latest, resumed} {
		if e := s.topicEvents(t, 1); e[0].Journal != "j0" || e[0].SeqNr != per+1 {
			t.Fatalf("after the append: %+v", e[0])
		}
	}
	wantError(t, c.do(&protocol.SubscribeAllRequest{Topic: topic, Offsets: []protocol.PartitionStart{{Partition: 999, Offset: 0}}, Credit: 1}),
		protocol.CodeInvalidArgument)
}

// TestSubscribe_ResumeAcrossRestart follows a journal, stops the sidecar mid-stream (the stream ends with
// SHUTTING_DOWN), and resumes on a new sidecar from the position the subscriber stored: nothing lost,
// nothing twice.
func TestSubscribe_ResumeAcrossRestart(t *testing.T) {
	h := startSidecar(t)
	c := connect(t, h.socket)
	j := testenv.Name("restart")
	c.mustAppend(j, textEvents(1, 5))
	s := c.subscribe(&protocol.SubscribeRequest{Journal: j, Credit: 100})
	var delivered []int64
	for _, e := range s.events(t, 5) {
		delivered = append(delivered, e.SeqNr)
	}
	h.stop()
	for {
		rep := s.next(t)
		if ev, ok := rep.(*protocol.ReadEvents); ok {
			delivered = append(delivered, seqNrsOf(ev.Events)...)
			continue
		}
		wantError(t, rep, protocol.CodeShuttingDown)
		break
	}
	h2 := startSidecar(t)
	c2 := connect(t, h2.socket)
	c2.mustAppend(j, textEvents(6, 8)) // written while no subscription was open
	position := delivered[len(delivered)-1]
	s2 := c2.subscribe(&protocol.SubscribeRequest{Journal: j, From: position + 1, Credit: 100})
	c2.mustAppend(j, textEvents(9, 10))
	for _, e := range s2.events(t, int(10-position)) {
		delivered = append(delivered, e.SeqNr)
	}
	if !reflect.DeepEqual(delivered, span(1, 10)) {
		t.Fatalf("delivered across the restart: %v", delivered)
	}
}

// catchUpReads is the number of reads subscriptions started (kjournal_journal_subscription_steps_total
// {step="catch_up"}).
func catchUpReads(tb testing.TB, g prometheus.Gatherer) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kjournal_journal_subscription_steps_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "step" && l.GetValue() == "catch_up" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
