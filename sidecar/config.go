package sidecar

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// Defaults of Config.
const (
	DefaultSocketPath     = "/var/run/kjournal/kjournal.sock"
	DefaultSocketMode     = os.FileMode(0o660)
	DefaultTopic          = "journal"
	DefaultMaxConnections = 1024
	DefaultMaxInFlight    = 256
	DefaultMaxFrameBytes  = protocol.DefaultMaxFrameBytes
	DefaultTimeout        = 30 * time.Second
	DefaultShutdownGrace  = 15 * time.Second
	DefaultHTTPAddr       = "127.0.0.1:9095"
)

// NoHTTP as Config.HTTPAddr turns the health and metrics server off.
const NoHTTP = "-"

// ServerName is sent in the hello reply.
const ServerName = "kjournal/0.1.0"

// Config configures a Server. Journals is required; the zero value of every other field means its
// default, which New fills in.
type Config struct {
	// Journals serves the requests. Required. The server does not close it.
	Journals *journal.Journals
	// Snapshots serves save_snapshot, load_snapshot and delete_snapshots; nil: they fail with
	// SNAPSHOTS_UNAVAILABLE. The server does not close it.
	Snapshots journal.SnapshotStore

	// SocketPath is the Unix socket to listen on. Default DefaultSocketPath
	// (/var/run/kjournal/kjournal.sock). A file already there is removed only if it is a socket that
	// nobody answers on; its directory is created when missing.
	SocketPath string
	// SocketMode is the permission of the socket file. Default 0660: the owner and the group (in
	// Kubernetes, the pod's fsGroup) may connect.
	SocketMode os.FileMode

	// DefaultTopic is the topic of requests without one. Default "journal", as kafka-journal's.
	DefaultTopic string
	// AllowedTopics, when not empty, are the only topics served (others fail with
	// TOPIC_NOT_ALLOWED); DefaultTopic must be one of them. Default: every topic.
	AllowedTopics []string
	// AllowedUIDs, when not empty, are the only peer user ids (SO_PEERCRED) allowed to connect; other
	// peers get PERMISSION_DENIED and are disconnected. Default: any peer the socket's mode admits.
	AllowedUIDs []uint32

	// MaxConnections bounds the connections served at once; one more gets TOO_MANY_CONNECTIONS.
	// Default 1024.
	MaxConnections int
	// MaxInFlight bounds the requests in flight on one connection, open read streams included; one
	// more fails with TOO_MANY_REQUESTS. Default 256.
	MaxInFlight int
	// MaxFrameBytes is the largest frame body accepted and sent (announced in the hello reply).
	// Default 16 MiB; at least 4 KiB and below 2 GiB.
	MaxFrameBytes int
	// DefaultTimeout is the deadline of requests without timeout_ms. Default 30s.
	DefaultTimeout time.Duration
	// ShutdownGrace is how long requests in flight (appends above all) may still run once shutdown
	// began; then they fail with SHUTTING_DOWN. Default 15s. Keep it under the pod's
	// terminationGracePeriodSeconds.
	ShutdownGrace time.Duration

	// HTTPAddr is where /healthz, /readyz and /metrics are served. Default "127.0.0.1:9095"; NoHTTP
	// ("-") serves none.
	HTTPAddr string
	// Pprof also serves Go's profiler under /debug/pprof/ on HTTPAddr (CPU, heap, goroutines).
	// Default off: a profile costs CPU, and HTTPAddr may be reachable by more than the operator.
	Pprof bool
	// Ready reports whether the backends are reachable, for /readyz. Default: always ready.
	Ready func(ctx context.Context) error

	// Logger receives the server's logs. Default: none.
	Logger hclog.Logger
	// Registerer receives the kjournal_sidecar_* metrics. Default: none are registered (a private
	// registry still serves them on /metrics).
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves. Default: Registerer when it is also a Gatherer (a
	// *prometheus.Registry), else the private registry.
	Gatherer prometheus.Gatherer
}

// Validate reports what New would reject in cfg, but for a missing Journals: a main checks its flags
// with it before connecting to the backends.
func (cfg Config) Validate() error {
	if cfg.Journals == nil {
		cfg.Journals = &journal.Journals{}
	}
	_, err := cfg.withDefaults()
	return err
}

// withDefaults returns cfg with zero values replaced by defaults, or an error when a value is invalid.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Journals == nil {
		return cfg, errors.New("sidecar: config: Journals is required")
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = DefaultSocketPath
	}
	if cfg.SocketMode == 0 {
		cfg.SocketMode = DefaultSocketMode
	}
	if cfg.SocketMode&^os.ModePerm != 0 {
		return cfg, fmt.Errorf("sidecar: config: socket mode %v has bits beyond the permissions", cfg.SocketMode)
	}
	if cfg.DefaultTopic == "" {
		cfg.DefaultTopic = DefaultTopic
	}
	if !legalTopic(cfg.DefaultTopic) {
		return cfg, fmt.Errorf("sidecar: config: default topic %q is not a legal Kafka topic name", cfg.DefaultTopic)
	}
	for _, t := range cfg.AllowedTopics {
		if !legalTopic(t) {
			return cfg, fmt.Errorf("sidecar: config: allowed topic %q is not a legal Kafka topic name", t)
		}
	}
	if len(cfg.AllowedTopics) > 0 && !contains(cfg.AllowedTopics, cfg.DefaultTopic) {
		return cfg, fmt.Errorf("sidecar: config: default topic %q is not among the allowed topics %v", cfg.DefaultTopic, cfg.AllowedTopics)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnections < 0 {
		return cfg, fmt.Errorf("sidecar: config: negative max connections %d", cfg.MaxConnections)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlight < 0 || cfg.MaxInFlight > 1<<20 {
		return cfg, fmt.Errorf("sidecar: config: max in flight %d outside 1..%d", cfg.MaxInFlight, 1<<20)
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.MaxFrameBytes < 4<<10 || cfg.MaxFrameBytes > 1<<31-1 {
		return cfg, fmt.Errorf("sidecar: config: max frame bytes %d outside 4096..%d", cfg.MaxFrameBytes, 1<<31-1)
	}
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.DefaultTimeout < time.Millisecond || cfg.DefaultTimeout > protocol.MaxTimeoutMs*time.Millisecond {
		return cfg, fmt.Errorf("sidecar: config: default timeout %s outside 1ms..%s", cfg.DefaultTimeout, protocol.MaxTimeoutMs*time.Millisecond)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.ShutdownGrace < 0 {
		return cfg, fmt.Errorf("sidecar: config: negative shutdown grace %s", cfg.ShutdownGrace)
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return cfg, nil
}

// legalTopic applies Kafka's topic name rules: 1..249 of [a-zA-Z0-9._-], not "." or "..".
func legalTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
