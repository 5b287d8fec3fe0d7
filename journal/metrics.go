package journal

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	kjmetrics "github.com/kjournal/kjournal/internal/metrics"
)

type metrics struct {
	latency *prometheus.HistogramVec // op, result
	// appendOK and appendError are latency's append series, looked up once: appends are most
	// operations, and a lookup hashes the label values.
	appendOK, appendError prometheus.Observer
	events                prometheus.Counter
	fallbacks             prometheus.Counter
	cache                 *prometheus.CounterVec // result: hit, ahead, miss, timeout, limited
	entries               *prometheus.GaugeVec   // topic
	heads                 *prometheus.CounterVec // result: hit, miss
	// subscriptions counts subscription steps: catch_up (a Read started), caught_up (it ended and
	// following began), topic (a subscribe_all started), topic_scan (a subscribe_all chunk read from Kafka)
	subscriptions *prometheus.CounterVec
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
		subscriptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_journal_subscription_steps_total",
			Help: "Subscription steps: catch_up (a read started: at the start, or after falling behind the head cache), caught_up, topic (a subscribe_all started), topic_scan (a subscribe_all chunk read from Kafka).",
		}, []string{"step"}),
	}
	var err error
	if m.latency, err = kjmetrics.Register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.events, err = kjmetrics.Register(reg, m.events); err != nil {
		return nil, err
	}
	if m.fallbacks, err = kjmetrics.Register(reg, m.fallbacks); err != nil {
		return nil, err
	}
	if m.cache, err = kjmetrics.Register(reg, m.cache); err != nil {
		return nil, err
	}
	if m.entries, err = kjmetrics.Register(reg, m.entries); err != nil {
		return nil, err
	}
	if m.heads, err = kjmetrics.Register(reg, m.heads); err != nil {
		return nil, err
	}
	if m.subscriptions, err = kjmetrics.Register(reg, m.subscriptions); err != nil {
		return nil, err
	}
	m.appendOK = m.latency.WithLabelValues("append", "ok")
	m.appendError = m.latency.WithLabelValues("append", "error")
	return m, nil
}

// appendLatency is the latency series of an append that ended with err.
func (m *metrics) appendLatency(err error) prometheus.Observer {
	if err != nil {
		return m.appendError
	}
	return m.appendOK
}

// observe records an operation's latency; use as `defer m.observe("read", time.Now(), &err)`.
func (m *metrics) observe(op string, start time.Time, err *error) {
	result := "ok"
	if *err != nil {
		result = "error"
	}
	m.latency.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}
