package kafka_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/internal/testenv"
)

// TestSmoke_ProduceConsumeWithHeaders proves the client settings kjournal relies on work against the real
// Kafka 4.x broker: protocol version for Kafka 4, idempotent producer with acks=all, record headers.
func TestSmoke_ProduceConsumeWithHeaders(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("smoke")

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // sarama requires it for idempotence
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewCustomPartitioner(sarama.WithAbsFirst(), sarama.WithHashUnsigned())

	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() { _ = admin.DeleteTopic(topic) })

	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	msg := &sarama.ProducerMessage{
		Topic:   topic,
		Key:     sarama.StringEncoder("id"),
		Value:   sarama.ByteEncoder("hello"),
		Headers: []sarama.RecordHeader{{Key: []byte("journal.action"), Value: []byte(`{"purge":{}}`)}},
	}
	partition, offset, err := producer.SendMessage(msg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("consume partition %d: %v", partition, err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Key) != "id" || string(m.Value) != "hello" {
			t.Errorf("got key %q value %q, want id/hello", m.Key, m.Value)
		}
		if len(m.Headers) != 1 || string(m.Headers[0].Key) != "journal.action" || string(m.Headers[0].Value) != `{"purge":{}}` {
			t.Errorf("headers = %+v", m.Headers)
		}
	case err := <-pc.Errors():
		t.Fatalf("consume: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no record within 30s")
	}
}
