package main

// Helpers shared by the subcommands: flags with environment defaults, logging, backend start-up.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/cassandra"
	"github.com/kjournal/kjournal/journal/kafka"
)

// envOr is the value of the environment variable name, or def when it is unset or blank: the
// default of a flag that the environment can set.
func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// envDuration is envOr for durations; an unparsable value falls back to def (the flag, parsed later,
// reports its own errors).
func envDuration(name string, def time.Duration) time.Duration {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(format, level string, out io.Writer) (hclog.Logger, error) {
	lv := hclog.LevelFromString(level)
	if lv == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level: unknown level %q", level)
	}
	var json bool
	switch format {
	case "json":
		json = true
	case "text":
	default:
		return nil, fmt.Errorf("--log-format: %q is not json or text", format)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "kjournal", Level: lv, JSONFormat: json, Output: out}), nil
}

// openKafka retries kafka.New, which fails when no broker answers, until ctx ends: in a pod the
// sidecar may start before Kafka is reachable.
func openKafka(ctx context.Context, cfg kafka.Config, logger hclog.Logger) (*kafka.Log, error) {
	delay := 500 * time.Millisecond
	for {
		log, err := kafka.New(cfg)
		if err == nil {
			return log, nil
		}
		if !errors.Is(err, journal.ErrKafkaUnavailable) {
			return nil, err
		}
		logger.Warn("kafka not reachable yet; retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kafka not reachable before the start timeout: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// cassandraHint is what to do about a Cassandra start error, appended to its message.
func cassandraHint(err error) string {
	switch {
	case errors.Is(err, cassandra.ErrAuth):
		return " (check --cassandra-username, CASSANDRA_PASSWORD and the role's grants: README, Least privilege)"
	case errors.Is(err, cassandra.ErrNoSchema):
		return " (a sidecar never creates it unless --no-create-schema=false)"
	}
	return ""
}
