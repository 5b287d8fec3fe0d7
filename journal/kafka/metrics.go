package kafka

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	kjmetrics "github.com/kjournal/kjournal/internal/metrics"
)

// Consumer purposes, the values of the "purpose" label and of Log.ConsumersOpened's argument.
const (
	PurposeScan   = "scan"
	PurposeFollow = "follow"
)

// metrics are the Prometheus collectors of one Log, plus plain counters of opened consumers that tests
// and the benchmark read through Log.ConsumersOpened whether or not the collectors are registered.
type metrics struct {
	produceLatency  prometheus.Histogram
	produceErrors   prometheus.Counter
	produceRequests prometheus.Counter
	bufferedBytes   prometheus.Gauge
	consumersOpen   *prometheus.GaugeVec
	consumersOpened *prometheus.CounterVec

	openedScan   atomic.Int64
	openedFollow atomic.Int64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		produceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kjournal_kafka_produce_latency_seconds",
			Help:    "Time from enqueueing an action to Kafka's acknowledgement (successful produces).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_kafka_produce_errors_total",
			Help: "Actions Kafka did not acknowledge (produce errors and timeouts).",
		}),
		produceRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_kafka_produce_requests_total",
			Help: "Produce requests sent (each carries a batch of every partition with records ready); appends ÷ requests is the batching.",
		}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kjournal_kafka_producer_buffered_bytes",
			Help: "Record bytes the producer holds, queued or in flight (bounded by its buffer; produces wait while it is full).",
		}),
		consumersOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kjournal_kafka_consumers_open",
			Help: "Kafka consumers open now, by purpose (scan: pooled readers; follow: head cache).",
		}, []string{"purpose"}),
		consumersOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_kafka_consumers_opened_total",
			Help: "Kafka consumers opened, by purpose (scan: pooled readers; follow: head cache).",
		}, []string{"purpose"}),
	}
	if reg != nil {
		m.produceLatency = kjmetrics.MustRegister(reg, m.produceLatency)
		m.produceErrors = kjmetrics.MustRegister(reg, m.produceErrors)
		m.produceRequests = kjmetrics.MustRegister(reg, m.produceRequests)
		m.bufferedBytes = kjmetrics.MustRegister(reg, m.bufferedBytes)
		m.consumersOpen = kjmetrics.MustRegister(reg, m.consumersOpen)
		m.consumersOpened = kjmetrics.MustRegister(reg, m.consumersOpened)
	}
	return m
}

func (m *metrics) consumerOpened(purpose string) {
	m.consumersOpen.WithLabelValues(purpose).Inc()
	m.consumersOpened.WithLabelValues(purpose).Inc()
	switch purpose {
	case PurposeScan:
		m.openedScan.Add(1)
	case PurposeFollow:
		m.openedFollow.Add(1)
	}
}

func (m *metrics) consumerClosed(purpose string) {
	m.consumersOpen.WithLabelValues(purpose).Dec()
}

func (m *metrics) opened(purpose string) int64 {
	switch purpose {
	case PurposeScan:
		return m.openedScan.Load()
	case PurposeFollow:
		return m.openedFollow.Load()
	}
	return 0
}
