package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// Consumer groups, the Kafka side of the replicator: one group member per topic, cooperative-sticky
// assignment, offsets committed only when the caller says so.
//
// sarama (v1.61.1, the version in go.mod) implements the cooperative (incremental) rebalance
// protocol of KIP-429 with its "cooperative-sticky" strategy, the one the original's replicator uses
// (CooperativeStickyAssignor): a rebalance revokes only the partitions that move, and the member
// keeps consuming the others while the group settles.

// GroupConfig configures one member of a consumer group (Groups.Join). The zero value of every
// field but GroupID and Topic means its default.
type GroupConfig struct {
	// GroupID is the consumer group. Required.
	GroupID string
	// Topic is the one topic the member consumes. Required.
	Topic string
	// InstanceID turns on static membership (KIP-345): a member that restarts with the same id
	// within SessionTimeout takes its partitions back without a rebalance, and a member that stops
	// does not leave the group (its partitions move after SessionTimeout). Give every instance a
	// stable, distinct id (a StatefulSet pod name). Default "": dynamic membership.
	InstanceID string
	// MaxBatch bounds the records Claim.Next returns at once (the original's max.poll.records).
	// Default 1000.
	MaxBatch int
	// SessionTimeout is how long the coordinator waits for heartbeats before it evicts a member
	// (session.timeout.ms; the broker accepts 6 s to 5 min by default). Default 10 s.
	SessionTimeout time.Duration
	// HeartbeatInterval is the time between heartbeats. Default SessionTimeout / 3.
	HeartbeatInterval time.Duration
	// RebalanceTimeout bounds how long a rebalance waits for members to rejoin and for a revoked
	// partition's handler to return (max.poll.interval.ms). Default 60 s.
	RebalanceTimeout time.Duration
	// CommitInterval, when positive, makes Claim.Commit only mark the offset: the marked offsets
	// are committed every CommitInterval, and when a partition is revoked or the member leaves
	// (sarama's auto-commit of marked offsets; the original commits every 5 s). Default 0:
	// Claim.Commit commits synchronously.
	CommitInterval time.Duration
	// CommitMetadata is stored with every committed offset. Default: the host name, as the
	// original.
	CommitMetadata string
	// OnError is called with the errors of the member's background work (failed commits, fetch
	// errors, failed rejoins), after they were logged at warn level. Default: none.
	OnError func(error)
}

const (
	defaultMaxBatch         = 1000
	defaultSessionTimeout   = 10 * time.Second
	defaultRebalanceTimeout = time.Minute
	groupBackoffMin         = 100 * time.Millisecond
	groupBackoffMax         = 10 * time.Second
)

func (gc GroupConfig) withDefaults() (GroupConfig, error) {
	if gc.GroupID == "" {
		return gc, errors.New("kafka: group config: no group id")
	}
	if gc.Topic == "" {
		return gc, errors.New("kafka: group config: no topic")
	}
	if gc.MaxBatch == 0 {
		gc.MaxBatch = defaultMaxBatch
	}
	if gc.SessionTimeout == 0 {
		gc.SessionTimeout = defaultSessionTimeout
	}
	if gc.HeartbeatInterval == 0 {
		gc.HeartbeatInterval = gc.SessionTimeout / 3
	}
	if gc.RebalanceTimeout == 0 {
		gc.RebalanceTimeout = defaultRebalanceTimeout
	}
	if gc.CommitMetadata == "" {
		gc.CommitMetadata, _ = os.Hostname()
	}
	if gc.MaxBatch < 0 || gc.SessionTimeout < 0 || gc.HeartbeatInterval < 0 || gc.RebalanceTimeout < 0 || gc.CommitInterval < 0 {
		return gc, fmt.Errorf("kafka: group config: negative value in %+v", gc)
	}
	return gc, nil
}

// groupConfig is the sarama configuration of one group member.
func (cfg Config) groupConfig(gc GroupConfig) *sarama.Config {
	c := cfg.base()
	c.ChannelBufferSize = gc.MaxBatch
	c.Consumer.Return.Errors = true
	// Only offsets marked by Claim.Commit, after Cassandra has the records, are ever committed.
	c.Consumer.Offsets.AutoCommit.Enable = gc.CommitInterval > 0
	if gc.CommitInterval > 0 {
		c.Consumer.Offsets.AutoCommit.Interval = gc.CommitInterval
	}
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Fetch.Default = defaultFetchSize
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky()}
	c.Consumer.Group.Session.Timeout = gc.SessionTimeout
	c.Consumer.Group.Heartbeat.Interval = gc.HeartbeatInterval
	c.Consumer.Group.Rebalance.Timeout = gc.RebalanceTimeout
	c.Consumer.Group.InstanceId = gc.InstanceID
	return c
}

// Groups is the consumer-group side of a Kafka cluster: it lists topics, creates group members and
// reads committed offsets. It is safe for concurrent use; Close it when done.
type Groups struct {
	cfg    Config
	logger hclog.Logger
	client sarama.Client // lists topics
}

// NewGroups connects to Kafka. cfg's producer and pool settings are not used.
func NewGroups(cfg Config) (*Groups, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, cfg.consumerConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka: %w: %w", journal.ErrKafkaUnavailable, err)
	}
	return &Groups{cfg: cfg, logger: cfg.Logger, client: client}, nil
}

// Close closes the connections of Groups; members created by Join are closed separately.
func (gs *Groups) Close() error {
	if err := gs.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		return fmt.Errorf("kafka: close: %w", err)
	}
	return nil
}

// Topics lists the topics of the cluster, sorted, internal ones (__consumer_offsets) included.
func (gs *Groups) Topics(ctx context.Context) ([]string, error) {
	return inBackground(ctx, func() ([]string, error) {
		if err := gs.client.RefreshMetadata(); err != nil { // no topics: all of them
			return nil, fmt.Errorf("kafka: list topics: %w: %w", journal.ErrKafkaUnavailable, err)
		}
		topics, err := gs.client.Topics()
		if err != nil {
			return nil, fmt.Errorf("kafka: list topics: %w: %w", journal.ErrKafkaUnavailable, err)
		}
		slices.Sort(topics)
		return topics, nil
	})
}

// Committed returns the offsets group has committed for the partitions of topic (the next offset
// to consume, as Kafka stores them); partitions without a commit are absent.
func (gs *Groups) Committed(ctx context.Context, group, topic string) (map[int32]int64, error) {
	return inBackground(ctx, func() (map[int32]int64, error) {
		partitions, err := topicPartitions(gs.client, topic)
		if err != nil {
			return nil, err
		}
		c := gs.cfg.consumerConfig()
		c.Metadata.Full = true // the cluster admin refreshes metadata without naming topics
		client, err := sarama.NewClient(gs.cfg.Brokers, c)
		if err != nil {
			return nil, fmt.Errorf("kafka: committed offsets: %w: %w", journal.ErrKafkaUnavailable, err)
		}
		admin, err := sarama.NewClusterAdminFromClient(client) // closes client
		if err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("kafka: committed offsets: %w: %w", journal.ErrKafkaUnavailable, err)
		}
		defer admin.Close()
		resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions})
		if err != nil {
			return nil, fmt.Errorf("kafka: committed offsets of %s: %w: %w", group, journal.ErrKafkaUnavailable, err)
		}
		out := map[int32]int64{}
		for p, b := range resp.Blocks[topic] {
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("kafka: committed offset of %s %s/%d: %w", group, topic, p, b.Err)
			}
			if b.Offset >= 0 {
				out[p] = b.Offset
			}
		}
		return out, nil
	})
}

// inBackground runs fn, which does not watch ctx (sarama's requests do not), and returns when it
// does or when ctx ends.
func inBackground[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Group is one member of a consumer group consuming one topic. Run it, then Close it to leave the
// group.
type Group struct {
	cfg    GroupConfig
	logger hclog.Logger
	cg     sarama.ConsumerGroup
	errs   sync.WaitGroup
}

// Join creates a member of gc.GroupID for gc.Topic on a client of its own; it joins the group when
// Run is called.
func (gs *Groups) Join(gc GroupConfig) (*Group, error) {
	gc, err := gc.withDefaults()
	if err != nil {
		return nil, err
	}
	cg, err := sarama.NewConsumerGroup(gs.cfg.Brokers, gc.GroupID, gs.cfg.groupConfig(gc))
	if err != nil {
		return nil, fmt.Errorf("kafka: group %s: %w: %w", gc.GroupID, journal.ErrKafkaUnavailable, err)
	}
	g := &Group{cfg: gc, logger: gs.logger.With("group", gc.GroupID, "topic", gc.Topic), cg: cg}
	g.errs.Add(1)
	go func() {
		defer g.errs.Done()
		for err := range cg.Errors() {
			g.logger.Warn("consumer group error", "error", err)
			if gc.OnError != nil {
				gc.OnError(err)
			}
		}
	}()
	return g, nil
}

// Run joins the group and calls fn, in a goroutine of its own, for every partition assigned to this
// member. fn consumes the partition through the Claim and returns once Claim.Next reports the end
// of the claim: the partition was revoked by a rebalance, or ctx ended and the member is leaving.
// Offsets are committed only by Claim.Commit. A partition starts at the group's committed offset,
// or at the oldest offset when there is none.
//
// Run retries failed joins with a backoff (100 ms doubling to 10 s, with jitter) and returns
// ctx.Err() after ctx ended and every fn returned; journal.ErrClosed when the Group was closed.
func (g *Group) Run(ctx context.Context, fn func(*Claim)) error {
	h := &groupHandler{g: g, fn: fn}
	backoff := groupBackoffMin
	for {
		started := time.Now()
		err := g.cg.Consume(ctx, []string{g.cfg.Topic}, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return journal.ErrClosed
		}
		if err == nil {
			// An eager rebalance (or a session that ended without error): join again at once.
			backoff = groupBackoffMin
			continue
		}
		if time.Since(started) > time.Minute {
			backoff = groupBackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		g.logger.Warn("consumer group session failed, joining again", "error", err, "backoff", wait)
		if g.cfg.OnError != nil {
			g.cfg.OnError(err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, groupBackoffMax)
	}
}

// Close leaves the group (a static member only closes its connections) and releases the member.
// Call it after Run returned.
func (g *Group) Close() error {
	err := g.cg.Close()
	g.errs.Wait()
	if err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
		return fmt.Errorf("kafka: close group %s: %w", g.cfg.GroupID, err)
	}
	return nil
}

type groupHandler struct {
	g  *Group
	fn func(*Claim)
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, sc sarama.ConsumerGroupClaim) error {
	c := &Claim{
		g:      h.g,
		sess:   sess,
		sc:     sc,
		limit:  2 * h.g.cfg.MaxBatch,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	go c.forward()
	h.fn(c)
	return nil
}

// Claim is one partition assigned to a Group member, from its assignment until it is revoked or
// the member leaves. Next is meant for one goroutine (the one Run started) and Commit for one
// (that or another); HighWaterMark and Done may be called from any.
type Claim struct {
	g     *Group
	sess  sarama.ConsumerGroupSession
	sc    sarama.ConsumerGroupClaim
	limit int // buffered records above which fetching pauses

	mu     sync.Mutex
	buf    []journal.LogRecord
	paused bool

	notify chan struct{} // a record was buffered
	done   chan struct{} // sarama closed the claim's messages: revoked, or the member leaves
}

// forward moves the claim's records into buf as they arrive, so that the end of the claim is seen
// even while the caller is busy, and pauses fetching while the caller is behind.
func (c *Claim) forward() {
	defer close(c.done)
	for msg := range c.sc.Messages() {
		rec := logRecord(msg)
		c.mu.Lock()
		c.buf = append(c.buf, rec)
		if !c.paused && len(c.buf) >= c.limit {
			c.g.cg.Pause(map[string][]int32{c.sc.Topic(): {c.sc.Partition()}})
			c.paused = true
		}
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

// Topic returns the claimed topic.
func (c *Claim) Topic() string { return c.sc.Topic() }

// Partition returns the claimed partition.
func (c *Claim) Partition() int32 { return c.sc.Partition() }

// InitialOffset returns the offset the claim started at (the group's committed offset, or the
// oldest one).
func (c *Claim) InitialOffset() int64 { return c.sc.InitialOffset() }

// HighWaterMark returns the partition's end offset (the offset the next record will get) as of the
// latest fetch.
func (c *Claim) HighWaterMark() int64 { return c.sc.HighWaterMarkOffset() }

// Done is closed when the claim ends: the partition was revoked or the member is leaving. A caller
// waiting (for a retry, say) should give up then; records it did not commit go to the partition's
// next owner.
func (c *Claim) Done() <-chan struct{} { return c.done }

// Next waits for records and returns the ones fetched so far, in offset order, at most
// GroupConfig.MaxBatch of them: decoded actions, with Err set for a record of a journal whose
// action header cannot be parsed, and Action nil for records that carry no action. It returns
// false when the claim has ended; the caller should then return from Run's fn.
func (c *Claim) Next() ([]journal.LogRecord, bool) {
	for {
		select {
		case <-c.done:
			return nil, false
		default:
		}
		c.mu.Lock()
		if n := min(len(c.buf), c.g.cfg.MaxBatch); n > 0 {
			out := c.buf[:n:n]
			if n == len(c.buf) {
				c.buf = nil
			} else {
				c.buf = slices.Clone(c.buf[n:])
			}
			if c.paused && len(c.buf) < c.limit/2 {
				c.g.cg.Resume(map[string][]int32{c.sc.Topic(): {c.sc.Partition()}})
				c.paused = false
			}
			c.mu.Unlock()
			return out, true
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			return nil, false
		}
	}
}

// Commit commits next as the partition's offset (the offset of the next record to consume, one
// past the last one processed) and returns once the commit request was answered; with
// GroupConfig.CommitInterval it only marks next, to be committed with the next interval's
// commit. A failed commit is logged and reported to GroupConfig.OnError, not returned: it only
// means that the next owner of the partition reprocesses records. Offsets never go back: a next
// below an earlier one is ignored.
func (c *Claim) Commit(next int64) {
	c.sess.MarkOffset(c.sc.Topic(), c.sc.Partition(), next, c.g.cfg.CommitMetadata)
	if c.g.cfg.CommitInterval <= 0 {
		c.sess.Commit()
	}
}
