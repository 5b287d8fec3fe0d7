package kafka_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

var (
	testKey  = journal.Key{Topic: "journal", ID: "order-42"}
	testTime = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
)

func appendAction(t testing.TB) journal.Action {
	t.Helper()
	events := []journal.Event{{SeqNr: 1, Tags: []string{"t"}, Payload: journal.JSONPayload(json.RawMessage(`{"a":1}`))}, {SeqNr: 2}}
	value, pt, err := journal.EncodeEvents(events, journal.PayloadMetadata{ExpireAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return journal.Action{
		Key:       testKey,
		Timestamp: testTime,
		Header:    &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 2}, Origin: "host", Version: "v", PayloadType: pt},
		Value:     value,
		Headers:   journal.Headers{"b": "2", "a": "1", "utf": "ü"},
	}
}

func encoded(t testing.TB, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProducerMessage_Append(t *testing.T) {
	a := appendAction(t)
	msg, err := kafka.ProducerMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Topic != "journal" || string(encoded(t, msg.Key)) != "order-42" || !msg.Timestamp.Equal(testTime) {
		t.Errorf("topic %q key %q timestamp %v", msg.Topic, encoded(t, msg.Key), msg.Timestamp)
	}
	if string(encoded(t, msg.Value)) != string(a.Value) {
		t.Errorf("value %q", encoded(t, msg.Value))
	}
	want := []string{
		"journal.action", `{"append":{"range":{"from":1,"to":2},"origin":"host","version":"v","payloadType":"json","metadata":{}}}`,
		"a", "1", "b", "2", "utf", "ü",
	}
	var got []string
	for _, h := range msg.Headers {
		got = append(got, string(h.Key), string(h.Value))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers\n got %q\nwant %q", got, want)
	}
}

func TestProducerMessage_NoValueActions(t *testing.T) {
	cases := map[string]struct {
		h    journal.ActionHeader
		json string
	}{
		"delete": {&journal.DeleteHeader{To: 3, Origin: "o"}, `{"delete":{"to":3,"origin":"o"}}`},
		"purge":  {&journal.PurgeHeader{}, `{"purge":{}}`},
		"mark":   {&journal.MarkHeader{ID: "m", Version: "v"}, `{"mark":{"id":"m","version":"v"}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			// Value and Headers of a non-Append action are never written.
			msg, err := kafka.ProducerMessage(journal.Action{Key: testKey, Timestamp: testTime, Header: c.h, Value: []byte("x"), Headers: journal.Headers{"k": "v"}})
			if err != nil {
				t.Fatal(err)
			}
			if msg.Value != nil {
				t.Errorf("value %v, want null", msg.Value)
			}
			if len(msg.Headers) != 1 || string(msg.Headers[0].Key) != "journal.action" || string(msg.Headers[0].Value) != c.json {
				t.Errorf("headers %q", msg.Headers)
			}
		})
	}
}

func TestProducerMessage_Invalid(t *testing.T) {
	good := appendAction(t)
	cases := map[string]func(a *journal.Action){
		"no topic":        func(a *journal.Action) { a.Key.Topic = "" },
		"no id":           func(a *journal.Action) { a.Key.ID = "" },
		"no header":       func(a *journal.Action) { a.Header = nil },
		"no value":        func(a *journal.Action) { a.Value = nil },
		"bad header":      func(a *journal.Action) { a.Header = &journal.DeleteHeader{To: 0} },
		"reserved name":   func(a *journal.Action) { a.Headers = journal.Headers{"journal.action": "x"} },
		"header not utf8": func(a *journal.Action) { a.Headers = journal.Headers{"k": "\xff"} },
		"bad range": func(a *journal.Action) {
			a.Header = &journal.AppendHeader{Range: journal.SeqRange{From: 2, To: 1}, PayloadType: journal.PayloadJSON}
		},
		"text value hdr": func(a *journal.Action) {
			a.Header = &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 1}, PayloadType: journal.PayloadText}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			a := good
			mutate(&a)
			if _, err := kafka.ProducerMessage(a); !errors.Is(err, kafka.ErrInvalidAction) {
				t.Errorf("err = %v, want ErrInvalidAction", err)
			}
		})
	}
}

// consumed turns a producer message into what a consumer would see.
func consumed(t testing.TB, msg *sarama.ProducerMessage, partition int32, offset int64) *sarama.ConsumerMessage {
	t.Helper()
	c := &sarama.ConsumerMessage{Topic: msg.Topic, Partition: partition, Offset: offset, Timestamp: msg.Timestamp,
		Key: encoded(t, msg.Key), Value: encoded(t, msg.Value)}
	for _, h := range msg.Headers {
		c.Headers = append(c.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return c
}

func TestActionRecordOf_RoundTrip(t *testing.T) {
	actions := []journal.Action{
		appendAction(t),
		{Key: testKey, Timestamp: testTime, Header: &journal.DeleteHeader{To: 9, Origin: "o", Version: "v"}},
		{Key: testKey, Timestamp: testTime, Header: &journal.PurgeHeader{Origin: "o"}},
		{Key: testKey, Timestamp: testTime, Header: &journal.MarkHeader{ID: "marker"}},
	}
	for i, a := range actions {
		t.Run(string(a.Header.Kind()), func(t *testing.T) {
			msg, err := kafka.ProducerMessage(a)
			if err != nil {
				t.Fatal(err)
			}
			rec, ok, err := kafka.ActionRecordOf(consumed(t, msg, 7, int64(100+i)))
			if err != nil || !ok {
				t.Fatalf("ActionRecordOf = %v, %v", ok, err)
			}
			want := journal.ActionRecord{Action: a, PartitionOffset: journal.PartitionOffset{Partition: 7, Offset: int64(100 + i)}}
			if !reflect.DeepEqual(rec, want) {
				t.Errorf("got  %+v\nwant %+v", rec, want)
			}
		})
	}
}

func TestActionRecordOf_Skipped(t *testing.T) {
	msg, err := kafka.ProducerMessage(appendAction(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(m *sarama.ConsumerMessage){
		"no key":          func(m *sarama.ConsumerMessage) { m.Key = nil },
		"no timestamp":    func(m *sarama.ConsumerMessage) { m.Timestamp = time.Time{} },
		"no headers":      func(m *sarama.ConsumerMessage) { m.Headers = nil },
		"unknown action":  func(m *sarama.ConsumerMessage) { m.Headers[0].Value = []byte(`{"new":{}}`) },
		"append no value": func(m *sarama.ConsumerMessage) { m.Value = nil },
		"other header":    func(m *sarama.ConsumerMessage) { m.Headers = m.Headers[1:] },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := consumed(t, msg, 0, 0)
			mutate(m)
			if rec, ok, err := kafka.ActionRecordOf(m); ok || err != nil {
				t.Errorf("got %+v, %v, %v; want skipped", rec, ok, err)
			}
		})
	}
	if _, ok, err := kafka.ActionRecordOf(nil); ok || err != nil {
		t.Error("nil message must be skipped")
	}
}

func TestActionRecordOf_Errors(t *testing.T) {
	msg, err := kafka.ProducerMessage(appendAction(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		mutate    func(m *sarama.ConsumerMessage)
		malformed bool
	}{
		"header not json":      {func(m *sarama.ConsumerMessage) { m.Headers[0].Value = []byte(`{`) }, true},
		"header invalid":       {func(m *sarama.ConsumerMessage) { m.Headers[0].Value = []byte(`{"delete":{"to":0}}`) }, true},
		"user header not utf8": {func(m *sarama.ConsumerMessage) { m.Headers[1].Value = []byte{0xff} }, false},
		"user header null":     {func(m *sarama.ConsumerMessage) { m.Headers[1].Value = nil }, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := consumed(t, msg, 0, 0)
			c.mutate(m)
			_, ok, err := kafka.ActionRecordOf(m)
			if ok || !errors.Is(err, kafka.ErrInvalidRecord) || errors.Is(err, journal.ErrMalformedHeader) != c.malformed {
				t.Errorf("got %v, %v", ok, err)
			}
		})
	}
}

func TestActionRecordOf_UserHeaders(t *testing.T) {
	msg, err := kafka.ProducerMessage(appendAction(t))
	if err != nil {
		t.Fatal(err)
	}
	m := consumed(t, msg, 0, 0)
	// Duplicate keys: the last wins. A second journal.action header is not
	// a user header, and the first one is the action.
	m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte("a"), Value: []byte("last")},
		&sarama.RecordHeader{Key: []byte("journal.action"), Value: []byte(`{"purge":{}}`)})
	rec, ok, err := kafka.ActionRecordOf(m)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := journal.Headers{"a": "last", "b": "2", "utf": "ü"}
	if !reflect.DeepEqual(rec.Headers, want) || rec.Header.Kind() != journal.ActionAppend {
		t.Errorf("headers %v kind %s", rec.Headers, rec.Header.Kind())
	}
}
