package sidecar

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	kjmetrics "github.com/kjournal/kjournal/internal/metrics"
	"github.com/kjournal/kjournal/protocol"
)

type metrics struct {
	requests    *prometheus.CounterVec   // op, code
	latency     *prometheus.HistogramVec // op
	connections prometheus.Gauge
	accepted    prometheus.Counter
	rejected    *prometheus.CounterVec // reason
	streams     prometheus.Gauge
	inFlight    prometheus.Gauge
	events      prometheus.Counter
	frameErrors *prometheus.CounterVec // code
	// appendOK and appendLatency are the series of a successful append, looked up once: appends are
	// most requests, and a lookup hashes the label values.
	appendOK      prometheus.Counter
	appendLatency prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_sidecar_requests_total",
			Help: "Requests answered, by op and outcome (OK or the error code's name).",
		}, []string{"op", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kjournal_sidecar_request_duration_seconds",
			Help:    "Time from a request's arrival to its final reply, by op (for read: the whole stream).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"op"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kjournal_sidecar_connections",
			Help: "Client connections open now.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_sidecar_connections_accepted_total",
			Help: "Client connections accepted and served.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_sidecar_connections_rejected_total",
			Help: "Client connections refused, by reason (limit, peer_uid, shutdown).",
		}, []string{"reason"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kjournal_sidecar_open_streams",
			Help: "Read streams open now.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kjournal_sidecar_requests_in_flight",
			Help: "Requests in flight now, read streams included.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kjournal_sidecar_read_events_total",
			Help: "Events sent on read streams.",
		}),
		frameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kjournal_sidecar_frame_errors_total",
			Help: "Frames rejected before they became a request, by code (BAD_FRAME, FRAME_TOO_LARGE, INVALID_ID, ...).",
		}, []string{"code"}),
	}
	if reg == nil {
		m.resolve()
		return m, nil
	}
	var err error
	reg2 := func(c prometheus.Collector) prometheus.Collector {
		if err != nil {
			return c
		}
		c, err = kjmetrics.Register(reg, c)
		return c
	}
	m.requests = reg2(m.requests).(*prometheus.CounterVec)
	m.latency = reg2(m.latency).(*prometheus.HistogramVec)
	m.connections = reg2(m.connections).(prometheus.Gauge)
	m.accepted = reg2(m.accepted).(prometheus.Counter)
	m.rejected = reg2(m.rejected).(*prometheus.CounterVec)
	m.streams = reg2(m.streams).(prometheus.Gauge)
	m.inFlight = reg2(m.inFlight).(prometheus.Gauge)
	m.events = reg2(m.events).(prometheus.Counter)
	m.frameErrors = reg2(m.frameErrors).(*prometheus.CounterVec)
	if err != nil {
		return nil, err
	}
	m.resolve()
	return m, nil
}

// resolve looks up the series observe uses most.
func (m *metrics) resolve() {
	m.appendOK = m.requests.WithLabelValues(string(protocol.OpAppend), "OK")
	m.appendLatency = m.latency.WithLabelValues(string(protocol.OpAppend))
}

func (m *metrics) observe(op string, start time.Time, code string) {
	if op == string(protocol.OpAppend) && code == "OK" {
		m.appendOK.Inc()
		m.appendLatency.Observe(time.Since(start).Seconds())
		return
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
