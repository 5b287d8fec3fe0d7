package kafka_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/internal/testenv"
	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// TestActionRecordOf_RealKafka produces every kind of action through a real
// broker with the exported Partitioner, checks that each lands in the
// partition the Java client would choose (hashing.json), and reads it back.
func TestActionRecordOf_RealKafka(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("kafka_record")
	const partitions = 10

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = kafka.Partitioner

	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { _ = admin.DeleteTopic(topic) })

	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	t.Cleanup(func() { _ = consumer.Close() })

	// Partitions for 10 partitions, from hashing.json.
	wantPartition := map[string]int32{"id": 7, "order-42": 4, "ключ": 4, "": 1}
	v := loadPartitionerVectors(t)
	for _, vec := range v.KafkaDefaultPartitioner.Vectors {
		if p, ok := vec.Partition["10"]; ok && vec.Key != "" {
			wantPartition[vec.Key] = p
		}
	}
	delete(wantPartition, "") // journal ids are never empty

	ts := time.Now().Truncate(time.Millisecond) // Kafka keeps milliseconds
	for id, want := range wantPartition {
		key := journal.Key{Topic: topic, ID: id}
		events := []journal.Event{
			{SeqNr: 1, Tags: []string{"a", "b"}, Payload: journal.BinaryPayload([]byte{0, 1, 2})},
			{SeqNr: 2, Payload: journal.JSONPayload(json.RawMessage(`{"x":[1,2]}`))},
		}
		value, pt, err := journal.EncodeEvents(events, journal.PayloadMetadata{ExpireAfter: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		actions := []journal.Action{
			{Key: key, Timestamp: ts, Header: &journal.AppendHeader{Range: journal.SeqRange{From: 1, To: 2}, Origin: "it", PayloadType: pt}, Value: value, Headers: journal.Headers{"h": "v"}},
			{Key: key, Timestamp: ts, Header: &journal.DeleteHeader{To: 1}},
			{Key: key, Timestamp: ts, Header: &journal.MarkHeader{ID: "m-" + id}},
			{Key: key, Timestamp: ts, Header: &journal.PurgeHeader{Version: "v"}},
		}
		var first int64 = -1
		for _, a := range actions {
			msg, err := kafka.ProducerMessage(a)
			if err != nil {
				t.Fatal(err)
			}
			p, off, err := producer.SendMessage(msg)
			if err != nil {
				t.Fatalf("produce %s: %v", key, err)
			}
			if p != want {
				t.Errorf("%q landed in partition %d, the Java client uses %d", id, p, want)
			}
			if first < 0 {
				first = off
			}
		}

		pc, err := consumer.ConsumePartition(topic, want, first)
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
		for i, a := range actions {
			select {
			case m := <-pc.Messages():
				rec, ok, err := kafka.ActionRecordOf(m)
				if err != nil || !ok {
					t.Fatalf("%q action %d: %v, %v", id, i, ok, err)
				}
				a.Timestamp = rec.Timestamp // compared below, in milliseconds
				if !rec.Timestamp.Equal(ts) {
					t.Errorf("timestamp %v, want %v", rec.Timestamp, ts)
				}
				if a.Header.Kind() != journal.ActionAppend {
					a.Value, a.Headers = nil, nil
				}
				if !reflect.DeepEqual(rec.Action, a) || rec.Partition != want || rec.Offset != first+int64(i) {
					t.Errorf("%q action %d\n got %+v\nwant %+v", id, i, rec, a)
				}
				if h, ok := rec.Header.(*journal.AppendHeader); ok {
					got, md, err := journal.DecodeEvents(rec.Value, h.PayloadType)
					if err != nil || len(got) != 2 || md.ExpireAfter != 24*time.Hour {
						t.Errorf("events %+v %+v %v", got, md, err)
					}
				}
			case err := <-pc.Errors():
				t.Fatalf("consume: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("%q: no record within 30s", id)
			}
		}
		_ = pc.Close()
	}
}
