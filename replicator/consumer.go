package replicator

import (
	"context"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/kafka"
)

// The Kafka side as the replicator sees it. kafka.Groups, kafka.Group and kafka.Claim are the real
// ones; tests of the round logic use fakes.

// consumers lists topics and creates group members.
type consumers interface {
	topics(ctx context.Context) ([]string, error)
	join(topic, group string) (consumerGroup, error)
	close() error
}

// consumerGroup is one member of a topic's consumer group.
type consumerGroup interface {
	// run calls fn in a goroutine of its own for each partition assigned, until ctx ends and every
	// fn returned.
	run(ctx context.Context, fn func(claim)) error
	// close leaves the group.
	close() error
}

// claim is one assigned partition (kafka.Claim).
type claim interface {
	Topic() string
	Partition() int32
	// Next returns the next records in offset order; false when the claim ended.
	Next() ([]journal.LogRecord, bool)
	// Done is closed when the claim ends (revoked, or the member leaves).
	Done() <-chan struct{}
	// Commit commits next as the partition's consumer offset.
	Commit(next int64)
	// HighWaterMark is the partition's end offset as of the last fetch.
	HighWaterMark() int64
}

var _ claim = (*kafka.Claim)(nil)

// kafkaConsumers are consumers on kafka.Groups.
type kafkaConsumers struct {
	gs      *kafka.Groups
	cfg     Config
	onError func(topic string, err error)
}

func newKafkaConsumers(cfg Config, onError func(topic string, err error)) (consumers, error) {
	gs, err := kafka.NewGroups(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	return &kafkaConsumers{gs: gs, cfg: cfg, onError: onError}, nil
}

func (k *kafkaConsumers) topics(ctx context.Context) ([]string, error) { return k.gs.Topics(ctx) }

func (k *kafkaConsumers) join(topic, group string) (consumerGroup, error) {
	g, err := k.gs.Join(kafka.GroupConfig{
		GroupID:        group,
		Topic:          topic,
		InstanceID:     k.cfg.InstanceID,
		MaxBatch:       k.cfg.MaxBatch,
		SessionTimeout: k.cfg.SessionTimeout,
		CommitInterval: max(k.cfg.CommitInterval, 0),
		OnError:        func(err error) { k.onError(topic, err) },
	})
	if err != nil {
		return nil, err
	}
	return kafkaGroup{g}, nil
}

func (k *kafkaConsumers) close() error { return k.gs.Close() }

type kafkaGroup struct{ g *kafka.Group }

func (k kafkaGroup) run(ctx context.Context, fn func(claim)) error {
	return k.g.Run(ctx, func(c *kafka.Claim) { fn(c) })
}

func (k kafkaGroup) close() error { return k.g.Close() }
