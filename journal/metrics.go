package journal

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	latency   *prometheus.HistogramVec // op, result
	events    prometheus.Counter
	fallbacks prometheus.Counter
	cache     *prometheus.CounterVec // result: hit, ahead, miss, timeout, limited
	entries   *prometheus.GaugeVec   // topic
	heads     *prometheus.CounterVec // result: hit, miss
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kjournal_journal_operation_duration_seconds",
			Help:    "Latency of journal operations by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op", "result"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_journal_appended_events_total",
			Help: "Events appended (acknowledged by Kafka).",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_journal_head_scans_total",
			Help: "Reads that scanned Kafka themselves because the head cache could not answer (or is off).",
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_headcache_results_total",
			Help: "Head cache answers: hit (index answered), ahead (all replicated), miss, timeout, limited (evicted range).",
		}, []string{"result"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kjournal_headcache_actions",
			Help: "Unreplicated actions held by the head cache, per topic.",
		}, []string{"topic"}),
		heads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_journal_pointer_cache_total",
			Help: "Lookups of a journal's Cassandra pointer answered from the LRU (hit) or Cassandra (miss).",
		}, []string{"result"}),
	}
	var err error
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.events, err = register(reg, m.events); err != nil {
		return nil, err
	}
	if m.fallbacks, err = register(reg, m.fallbacks); err != nil {
		return nil, err
	}
	if m.cache, err = register(reg, m.cache); err != nil {
		return nil, err
	}
	if m.entries, err = register(reg, m.entries); err != nil {
		return nil, err
	}
	if m.heads, err = register(reg, m.heads); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under its name (two Journals on
// one registry share their metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// observe records an operation's latency; use as `defer m.observe("read", time.Now(), &err)`.
func (m *metrics) observe(op string, start time.Time, err *error) {
	result := "ok"
	if *err != nil {
		result = "error"
	}
	m.latency.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}
