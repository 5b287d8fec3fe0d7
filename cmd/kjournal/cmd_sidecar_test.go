package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSidecar_Help(t *testing.T) {
	var errOut bytes.Buffer
	if code := runSidecar(context.Background(), []string{"--help"}, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: kjournal sidecar", "-socket", "KJOURNAL_SOCKET", "-kafka-brokers", "KAFKA_BROKERS",
		"-cassandra-hosts", "-http-addr", "127.0.0.1:9095", "-head-cache", "-log-format", "-start-timeout"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	// Every flag names its environment variable in its help.
	fs, _ := sidecarFlagSet(&bytes.Buffer{})
	for _, p := range sidecarFlagEnv {
		f := fs.Lookup(p[0])
		if f == nil {
			t.Errorf("no flag --%s", p[0])
			continue
		}
		if !strings.Contains(f.Usage, "env "+p[1]) {
			t.Errorf("--%s does not name %s: %q", p[0], p[1], f.Usage)
		}
	}
}

func TestSidecar_FlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"argument", []string{"extra"}, nil, "unexpected argument"},
		{"socket mode", []string{"--socket-mode", "999"}, nil, ""},
		{"socket mode env", nil, map[string]string{"KJOURNAL_SOCKET_MODE": "rw"}, "KJOURNAL_SOCKET_MODE"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"log level", nil, map[string]string{"KJOURNAL_LOG_LEVEL": "loud"}, "--log-level"},
		{"head cache env", nil, map[string]string{"KJOURNAL_HEAD_CACHE": "maybe"}, "KJOURNAL_HEAD_CACHE"},
		{"in flight", nil, map[string]string{"KJOURNAL_MAX_IN_FLIGHT": "-1"}, "--max-in-flight"},
		{"uids", []string{"--allowed-uids", "1000,root"}, nil, "--allowed-uids"},
		{"timeout", []string{"--request-timeout", "0s"}, nil, "--request-timeout"},
		{"topic", []string{"--topic", "no spaces"}, nil, "topic"},
		{"topic not allowed", []string{"--allowed-topics", "a,b"}, nil, "allowed"},
		{"tiny frames", []string{"--max-frame-bytes", "10"}, nil, "max frame bytes"},
		{"no brokers", []string{"--kafka-brokers", " , "}, nil, "--kafka-brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var errOut bytes.Buffer
			code := runSidecar(context.Background(), tc.args, &errOut)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut.String())
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	fs, f := sidecarFlagSet(&bytes.Buffer{})
	if err := fs.Parse([]string{"--topic", "from-flag", "--head-cache=true"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"KJOURNAL_TOPIC":       "from-env",
		"KJOURNAL_KEYSPACE":    "ks_env",
		"KJOURNAL_HEAD_CACHE":  "false",
		"KJOURNAL_SOCKET_MODE": "0600",
		"KAFKA_BROKERS":        "k1:9092,k2:9092",
		"KJOURNAL_HTTP_ADDR":   ":9095",
		"KJOURNAL_SOCKET":      "  ",
	}
	if err := applyEnv(fs, sidecarFlagEnv, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if f.topic != "from-flag" || !f.headCache {
		t.Errorf("a flag given on the command line lost to the environment: topic %q, head cache %v", f.topic, f.headCache)
	}
	if f.keyspace != "ks_env" || f.socketMode != 0o600 || f.brokers != "k1:9092,k2:9092" || f.httpAddr != ":9095" {
		t.Errorf("environment not applied: %+v", f)
	}
	if f.socket != "/var/run/kjournal/kjournal.sock" {
		t.Errorf("a blank variable changed the socket: %q", f.socket)
	}
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SocketMode != 0o600 || cfg.DefaultTopic != "from-flag" || cfg.HTTPAddr != ":9095" {
		t.Errorf("config %+v", cfg)
	}
}

func TestSidecar_KafkaUnreachable(t *testing.T) {
	var errOut bytes.Buffer
	start := time.Now()
	code := runSidecar(context.Background(), []string{"--kafka-brokers", "127.0.0.1:1", "--start-timeout", "1s",
		"--http-addr", "-", "--socket", filepath.Join(t.TempDir(), "k.sock"), "--log-format", "text"}, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "kafka not reachable before the start timeout") {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", errOut.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("gave up after %s", d)
	}
}
