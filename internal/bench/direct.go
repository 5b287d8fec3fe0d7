package main

import (
	"os"
	"time"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// directProducer is the P1 baseline: a sarama SyncProducer writing the very records the sidecar
// writes (kafka.ProducerMessage of the same Append action) straight to Kafka, with the settings that
// make journal/kafka's producer safe — acks=all, idempotence, kafka.Partitioner (Java murmur2) — and
// its compression, so that the only difference left is the sidecar path itself.
type directProducer struct {
	p      sarama.SyncProducer
	origin string
}

func newDirectProducer(brokers []string) (*directProducer, error) {
	c := sarama.NewConfig()
	c.ClientID = "kjournal-bench-direct"
	c.Version = sarama.V4_0_0_0
	c.Metadata.Full = false
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // sarama requires it for idempotence
	c.Producer.Retry.Max = 10
	c.Producer.Compression = sarama.CompressionLZ4
	c.Producer.Partitioner = kafka.Partitioner
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	p, err := sarama.NewSyncProducer(brokers, c)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &directProducer{p: p, origin: host}, nil
}

func (d *directProducer) Close() error { return d.p.Close() }

// append builds and sends one single-event Append as journal.Journal.Append would, and returns how
// long it took until Kafka acknowledged it.
func (d *directProducer) append(key journal.Key, seqNr int64, payload []byte) (time.Duration, error) {
	start := time.Now()
	events := []journal.Event{{SeqNr: journal.SeqNr(seqNr), Payload: journal.BinaryPayload(payload)}}
	value, pt, err := journal.EncodeEvents(events, journal.PayloadMetadata{})
	if err != nil {
		return 0, err
	}
	msg, err := kafka.ProducerMessage(journal.Action{
		Key:       key,
		Timestamp: start,
		Header: &journal.AppendHeader{
			Range:       journal.SeqRange{From: journal.SeqNr(seqNr), To: journal.SeqNr(seqNr)},
			Origin:      d.origin,
			Version:     journal.Version,
			PayloadType: pt,
		},
		Value: value,
	})
	if err != nil {
		return 0, err
	}
	if _, _, err := d.p.SendMessage(msg); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// recordSize is the size on the wire of the record of a single-event Append with payload, as Kafka's
// ProducerPerformance counts it for --record-size comparisons: key + value + headers.
func recordSize(key journal.Key, payload []byte) (int, error) {
	events := []journal.Event{{SeqNr: 1, Payload: journal.BinaryPayload(payload)}}
	value, pt, err := journal.EncodeEvents(events, journal.PayloadMetadata{})
	if err != nil {
		return 0, err
	}
	host, _ := os.Hostname()
	hdr, err := journal.EncodeActionHeader(&journal.AppendHeader{
		Range: journal.SeqRange{From: 1, To: 1}, Origin: host, Version: journal.Version, PayloadType: pt,
	})
	if err != nil {
		return 0, err
	}
	return len(key.ID) + len(value) + len(journal.HeaderKey) + len(hdr), nil
}
