package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
)

// The two baselines of P3, run on the same journals as the sidecar's reads, all of them at once.

// concurrently runs fn for every id (its index i in ids) at once and returns the wall time and the
// first error.
func concurrently(ids []string, fn func(i int, id string) error) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	start := time.Now()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i, id); err != nil {
				errs <- fmt.Errorf("read %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	return wall, <-errs
}

// cassandraFloor reads every journal's event rows straight from Cassandra with gocql, one query per
// journal as kjournal's read issues it (the same columns, segment and page size), over a session of
// its own opened before the clock starts. want is the rows each journal has there.
func (e *env) cassandraFloor(ctx context.Context, topic string, ids []string, want int) (time.Duration, error) {
	cluster := gocql.NewCluster(e.hosts...)
	cluster.ProtoVersion = 4
	cluster.Keyspace = "journal"
	cluster.Consistency = gocql.LocalQuorum
	cluster.Timeout = 12 * time.Second
	session, err := cluster.CreateSession()
	if err != nil {
		return 0, fmt.Errorf("cassandra floor: %w", err)
	}
	defer session.Close()
	segment := cassandra.JournalSegment(journal.MinSeqNr, cassandra.DefaultSegmentSize)
	return concurrently(ids, func(_ int, id string) error {
		it := session.Query(`
SELECT seq_nr, partition, offset, timestamp, origin, version, meta_record_id, tags, payload_type, payload_txt,
payload_bin, metadata, headers FROM journal
WHERE id = ? AND topic = ? AND segment = ? AND seq_nr >= ? AND seq_nr <= ?`,
			id, topic, segment, int64(journal.MinSeqNr), int64(journal.MaxSeqNr)).WithContext(ctx).PageSize(1000).Iter()
		var (
			seqNr, offset                               int64
			partition                                   int32
			ts                                          time.Time
			origin, version, payloadType, txt, metadata *string
			recordID                                    *gocql.UUID
			tags                                        []string
			bin                                         []byte
			headers                                     map[string]string
		)
		rows := 0
		for it.Scan(&seqNr, &partition, &offset, &ts, &origin, &version, &recordID, &tags, &payloadType, &txt, &bin, &metadata, &headers) {
			rows++
		}
		if err := it.Close(); err != nil {
			return err
		}
		if rows != want {
			return fmt.Errorf("cassandra floor: %d rows, want %d", rows, want)
		}
		return nil
	})
}

// consumerPerRead recovers every journal as the original's design does: a Mark, pointer2, the rows in
// Cassandra (metajournal row, then event rows), and the unreplicated tail read by a Kafka consumer of
// its own, created for the read (sarama's consumer with its own client, as the original's per-read
// KafkaConsumer), consuming the journal's partition from pointer2 to the Mark. want is the events a
// full read returns.
func (e *env) consumerPerRead(ctx context.Context, topic string, ids []string, want int) (time.Duration, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Consumer.Return.Errors = true
	return concurrently(ids, func(_ int, id string) error {
		key := journal.Key{Topic: topic, ID: id}
		marker, err := e.journals.Journal(key).Mark(ctx, "bench-consumer-per-read")
		if err != nil {
			return err
		}
		replicated, ok, err := e.store.Offset(ctx, topic, marker.Partition)
		if err != nil {
			return err
		}
		if !ok {
			replicated = -1
		}
		var info journal.HeadInfo
		var appends []journal.ActionRecord
		if replicated < marker.Offset-1 {
			consumer, err := sarama.NewConsumer(e.brokers, cfg)
			if err != nil {
				return err
			}
			defer consumer.Close()
			pc, err := consumer.ConsumePartition(topic, marker.Partition, replicated+1)
			if err != nil {
				return err
			}
			defer pc.Close()
		consume:
			for {
				select {
				case msg := <-pc.Messages():
					if msg.Offset >= marker.Offset {
						break consume
					}
					if string(msg.Key) != id {
						continue
					}
					r, ok, err := kafka.ActionRecordOf(msg)
					if err != nil {
						return err
					}
					if ok {
						info = info.Fold(r.Header, r.Offset)
						if _, isAppend := r.Header.(*journal.AppendHeader); isAppend {
							appends = append(appends, r)
						}
					}
				case cerr := <-pc.Errors():
					return cerr
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		events := 0
		next := journal.MinSeqNr
		if info.NeedsEventual() {
			for ev, err := range e.store.Read(ctx, key, journal.MinSeqNr) {
				if err != nil {
					return err
				}
				events, next = events+1, ev.SeqNr+1
			}
		}
		for _, r := range appends {
			evs, _, err := journal.DecodeEvents(r.Value, r.Header.(*journal.AppendHeader).PayloadType)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if ev.SeqNr >= next {
					events, next = events+1, ev.SeqNr+1
				}
			}
		}
		if events != want {
			return fmt.Errorf("consumer per read: %d events, want %d", events, want)
		}
		return nil
	})
}
