package replicator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Replicator copies journal actions from Kafka to Cassandra. Create it with New and call Run once.
type Replicator struct {
	cfg   Config
	log   hclog.Logger
	m     *metrics
	store Store

	// Set by Run.
	consumers consumers
	runCtx    context.Context // ends when shutdown starts
	writeCtx  context.Context // ends ShutdownTimeout after shutdown started: Cassandra writes

	mu         sync.Mutex
	state      runState
	topics     map[string]*topicReplicator
	discovered bool   // a topic listing succeeded
	connErr    string // why Kafka is not connected, while it is not
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopping
	stateStopped
)

// New returns a Replicator for cfg, with cfg's zero values replaced by their defaults; it fails
// with ErrInvalidConfig when cfg is invalid. It does not connect to anything yet.
func New(cfg Config) (*Replicator, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Replicator{
		cfg:    c,
		log:    c.Logger,
		m:      newMetrics(c.Registerer),
		store:  c.Store,
		topics: map[string]*topicReplicator{},
	}, nil
}

// Run replicates until ctx ends, then shuts down gracefully and returns nil: each partition
// finishes the round it is in (Cassandra writes, pointer2, Kafka commit) and the replicator leaves
// its consumer groups, within Config.ShutdownTimeout. It connects to Kafka (retrying while Kafka
// is unreachable), lists the topics every DiscoveryInterval and replicates each new one that
// matches TopicPrefixes. With Config.HTTPAddr it serves /healthz, /readyz and /metrics while it
// runs. Run fails only when it cannot listen on HTTPAddr, or when called twice.
func (r *Replicator) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.state != stateNew {
		r.mu.Unlock()
		return errors.New("replicator: Run called twice")
	}
	r.state = stateRunning
	r.mu.Unlock()
	defer r.setState(stateStopped)

	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	r.runCtx, r.writeCtx = ctx, writeCtx

	var srv *http.Server
	if r.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", r.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("replicator: http: %w", err)
		}
		srv = &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.log.Error("http server failed", "error", err)
			}
		}()
		r.log.Info("serving /healthz, /readyz, /metrics", "addr", ln.Addr().String())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	r.log.Info("replicator starting", "topic_prefixes", r.cfg.TopicPrefixes, "group_prefix", r.cfg.GroupPrefix,
		"poison_mode", r.cfg.OnPoison, "expiry_interval", r.expiryLabel(), "instance_id", r.cfg.InstanceID)
	cons, ok := r.connect(ctx)
	if !ok {
		r.log.Info("replicator stopped before Kafka was reachable")
		return nil
	}
	r.consumers = cons

	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		}
		r.discover(ctx, &wg)
		timer.Reset(r.cfg.DiscoveryInterval)
	}

	r.setState(stateStopping)
	r.log.Info("shutting down: finishing the rounds in progress, committing, leaving the groups", "timeout", r.cfg.ShutdownTimeout)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(r.cfg.ShutdownTimeout):
		r.log.Warn("shutdown timeout: cancelling the Cassandra writes in progress")
		cancelWrites()
		<-done
	}
	if err := cons.close(); err != nil {
		r.log.Warn("closing kafka client", "error", err)
	}
	r.log.Info("replicator stopped")
	return nil
}

func (r *Replicator) expiryLabel() string {
	if !r.cfg.expiryEnabled() {
		return "disabled"
	}
	return r.cfg.ExpiryInterval.String()
}

func (r *Replicator) setState(s runState) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

// connect creates the Kafka consumers, retrying with backoff until it succeeds or ctx ends.
func (r *Replicator) connect(ctx context.Context) (consumers, bool) {
	if r.cfg.consumers != nil {
		return r.cfg.consumers, true
	}
	onError := func(topic string, err error) {
		r.m.errors.WithLabelValues(topic, stageGroup).Inc()
	}
	bo := r.backoff()
	for attempt := 1; ; attempt++ {
		cons, err := newKafkaConsumers(r.cfg, onError)
		if err == nil {
			r.mu.Lock()
			r.connErr = ""
			r.mu.Unlock()
			return cons, true
		}
		r.mu.Lock()
		r.connErr = err.Error()
		r.mu.Unlock()
		r.m.errors.WithLabelValues("", stageDiscovery).Inc()
		wait := bo.next()
		r.log.Warn("cannot connect to kafka, retrying", "brokers", r.cfg.Kafka.Brokers, "attempt", attempt, "error", err, "backoff", wait)
		if !sleepCtx(ctx, wait) {
			return nil, false
		}
	}
}

// discover lists the topics and starts a topic replicator for each new one that matches the
// prefixes. Topics are never stopped (as in the original): a deleted topic's member just idles.
func (r *Replicator) discover(ctx context.Context, wg *sync.WaitGroup) {
	lctx, cancel := context.WithTimeout(ctx, max(r.cfg.DiscoveryInterval, 10*time.Second))
	topics, err := r.consumers.topics(lctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.m.errors.WithLabelValues("", stageDiscovery).Inc()
			r.log.Warn("cannot list topics", "error", err)
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.discovered = true
	for _, topic := range topics {
		if _, ok := r.topics[topic]; ok || !r.matches(topic) {
			continue
		}
		t := newTopicReplicator(r, topic)
		r.topics[topic] = t
		r.m.topics.Set(float64(len(r.topics)))
		r.log.Info("new topic", "topic", topic)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.run(ctx)
		}()
	}
}

func (r *Replicator) matches(topic string) bool {
	for _, p := range r.cfg.TopicPrefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

// Status is a snapshot of what the replicator is doing, as /readyz reports it.
type Status struct {
	// Ready is what /readyz answers: Run is running, Kafka is connected, topics were listed, and no
	// partition is stalled at a poison record or failing for longer than UnreadyAfter.
	Ready bool `json:"ready"`
	// Reasons say why it is not ready.
	Reasons []string `json:"reasons,omitempty"`
	// Topics are the topics replicated.
	Topics map[string]TopicStatus `json:"topics"`
}

// TopicStatus is the state of one replicated topic on this replicator.
type TopicStatus struct {
	// Group is the consumer group.
	Group string `json:"group"`
	// Joined reports whether the group member is running.
	Joined bool `json:"joined"`
	// Partitions are the partitions assigned to this replicator, with their pointer2 (-1: none).
	Partitions map[int32]int64 `json:"partitions"`
	// Stalled are the partitions whose current round keeps failing, with the last error.
	Stalled map[int32]string `json:"stalled,omitempty"`
	// Expiry reports whether this replicator runs the topic's expiry job (it owns partition 0).
	Expiry bool `json:"expiry"`
	// ExpiryLastRun is when the job last ran here; zero when never.
	ExpiryLastRun time.Time `json:"expiry_last_run,omitzero"`
}

// Status returns the replicator's current state.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	state, discovered, connErr := r.state, r.discovered, r.connErr
	topics := make([]*topicReplicator, 0, len(r.topics))
	for _, t := range r.topics {
		topics = append(topics, t)
	}
	r.mu.Unlock()
	s := Status{Topics: map[string]TopicStatus{}}
	switch state {
	case stateNew:
		s.Reasons = append(s.Reasons, "not running")
	case stateStopping:
		s.Reasons = append(s.Reasons, "shutting down")
	case stateStopped:
		s.Reasons = append(s.Reasons, "stopped")
	}
	if connErr != "" {
		s.Reasons = append(s.Reasons, "kafka: "+connErr)
	} else if state == stateRunning && !discovered {
		s.Reasons = append(s.Reasons, "topics not listed yet")
	}
	now := time.Now()
	for _, t := range topics {
		t.mu.Lock()
		ts := TopicStatus{Group: t.group, Joined: t.joined, Partitions: map[int32]int64{}, Expiry: t.expiry, ExpiryLastRun: t.lastRun}
		for p, st := range t.parts {
			ts.Partitions[p] = st.pointer2
			if st.failingSince.IsZero() {
				continue
			}
			if ts.Stalled == nil {
				ts.Stalled = map[int32]string{}
			}
			ts.Stalled[p] = st.lastErr
			if st.poison {
				s.Reasons = append(s.Reasons, fmt.Sprintf("%s/%d stalled at a poison record: %s", t.topic, p, st.lastErr))
			} else if d := now.Sub(st.failingSince); d > r.cfg.UnreadyAfter {
				s.Reasons = append(s.Reasons, fmt.Sprintf("%s/%d failing for %s: %s", t.topic, p, d.Round(time.Second), st.lastErr))
			}
		}
		t.mu.Unlock()
		s.Topics[t.topic] = ts
	}
	slices.Sort(s.Reasons)
	s.Ready = len(s.Reasons) == 0
	return s
}
