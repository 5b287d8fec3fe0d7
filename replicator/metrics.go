package replicator

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	kjmetrics "github.com/kjournal/kjournal/internal/metrics"
)

// Error stages, the values of the "stage" label of kjournal_replicator_errors_total.
const (
	stageDiscovery = "discovery" // listing topics, connecting to Kafka
	stageGroup     = "group"     // joining a consumer group, consumer and commit errors
	stagePointer2  = "pointer2"  // reading pointer2 when a partition is assigned
	stageRound     = "round"     // a round that failed (Cassandra, or a poison record in stall mode)
	stageExpiry    = "expiry"    // the expiry job
)

// metrics are the replicator's Prometheus collectors, all named kjournal_replicator_*.
type metrics struct {
	topics        prometheus.Gauge
	partitions    *prometheus.GaugeVec     // topic
	lag           *prometheus.GaugeVec     // topic, partition
	records       *prometheus.CounterVec   // topic
	events        *prometheus.CounterVec   // topic
	actions       *prometheus.CounterVec   // topic, type
	latency       *prometheus.HistogramVec // topic, type
	roundDuration *prometheus.HistogramVec // topic
	errors        *prometheus.CounterVec   // topic, stage
	stalled       *prometheus.GaugeVec     // topic
	poisonSkipped *prometheus.CounterVec   // topic
	expiryPurges  *prometheus.CounterVec   // topic
	expiryRuns    *prometheus.HistogramVec // topic
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "kjournal_replicator_"
	latencyBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	m := &metrics{
		topics: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "topics", Help: "Topics this replicator replicates (it joined their consumer groups).",
		}),
		partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "partitions", Help: "Partitions of the topic assigned to this replicator.",
		}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "lag_records",
			Help: "Replication lag: records in the partition after the last one replicated (high water mark - pointer2 - 1), per partition assigned to this replicator; sum by topic for the topic's lag.",
		}, []string{"topic", "partition"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "records_total", Help: "Kafka records processed (replicated, or skipped as already replicated or carrying no action).",
		}, []string{"topic"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "events_total", Help: "Events written to Cassandra; rate() gives events/s.",
		}, []string{"topic"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "actions_total", Help: "Batches (compacted actions) that changed Cassandra, by type: append, delete, purge.",
		}, []string{"topic", "type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    ns + "replication_latency_seconds",
			Help:    "Time from an action's timestamp (its append to Kafka) to its write to Cassandra, by type.",
			Buckets: latencyBuckets,
		}, []string{"topic", "type"}),
		roundDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    ns + "round_duration_seconds",
			Help:    "Duration of successful rounds: one partition's batch of records, from Cassandra writes to the Kafka commit.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"topic"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "errors_total", Help: "Errors by stage: discovery, group, pointer2, round, expiry. A failed round is retried.",
		}, []string{"topic", "stage"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "stalled_partitions", Help: "Partitions whose current round keeps failing (a poison record in stall mode, or Cassandra errors).",
		}, []string{"topic"}),
		poisonSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "poison_records_skipped_total", Help: "Records that could not be decoded and were skipped (poison mode skip).",
		}, []string{"topic"}),
		expiryPurges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "expiry_purges_total", Help: "Purge actions the expiry job produced for expired journals.",
		}, []string{"topic"}),
		expiryRuns: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    ns + "expiry_run_duration_seconds",
			Help:    "Duration of the expiry job's runs.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"topic"}),
	}
	if reg != nil {
		m.topics = kjmetrics.MustRegister(reg, m.topics)
		m.partitions = kjmetrics.MustRegister(reg, m.partitions)
		m.lag = kjmetrics.MustRegister(reg, m.lag)
		m.records = kjmetrics.MustRegister(reg, m.records)
		m.events = kjmetrics.MustRegister(reg, m.events)
		m.actions = kjmetrics.MustRegister(reg, m.actions)
		m.latency = kjmetrics.MustRegister(reg, m.latency)
		m.roundDuration = kjmetrics.MustRegister(reg, m.roundDuration)
		m.errors = kjmetrics.MustRegister(reg, m.errors)
		m.stalled = kjmetrics.MustRegister(reg, m.stalled)
		m.poisonSkipped = kjmetrics.MustRegister(reg, m.poisonSkipped)
		m.expiryPurges = kjmetrics.MustRegister(reg, m.expiryPurges)
		m.expiryRuns = kjmetrics.MustRegister(reg, m.expiryRuns)
	}
	return m
}

func partitionLabel(p int32) string { return strconv.FormatInt(int64(p), 10) }
