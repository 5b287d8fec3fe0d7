package sidecar_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/journal/journaltest"
	"github.com/kjournal/kjournal/sidecar"
)

func fakeJournals(tb testing.TB) *journal.Journals {
	tb.Helper()
	js, err := journal.New(journal.Config{Log: &journaltest.Log{}, Eventual: &journaltest.Eventual{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = js.Close(context.Background()) })
	return js
}

func TestSocket_ModeAndUnlink(t *testing.T) {
	for _, tc := range []struct {
		set  os.FileMode
		want os.FileMode
	}{{0, 0o660}, {0o600, 0o600}, {0o666, 0o666}} {
		h := startFake(t, func(cfg *sidecar.Config) { cfg.SocketMode = tc.set })
		fi, err := os.Lstat(h.socket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tc.want {
			t.Errorf("socket mode %v, want socket %v", fi.Mode(), tc.want)
		}
		h.stop()
		if _, err := os.Lstat(h.socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file left after shutdown: %v", err)
		}
	}
}

func newServer(t *testing.T, path string) (*sidecar.Server, error) {
	t.Helper()
	srv, err := sidecar.New(sidecar.Config{Journals: fakeJournals(t), SocketPath: path, HTTPAddr: sidecar.NoHTTP})
	if err != nil {
		t.Fatal(err)
	}
	return srv, srv.Listen()
}

func TestSocket_StalePath(t *testing.T) {
	dir := t.TempDir()

	// A socket nobody listens on any more is replaced.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	srv, err := newServer(t, stale)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Run(ctx) // shuts down at once, unlinking

	// A socket in use is left alone.
	live := filepath.Join(dir, "live.sock")
	ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: live, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := newServer(t, live); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("listening on a socket in use: %v", err)
	}

	// Any other file is left alone.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newServer(t, file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("listening over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("the regular file was touched")
	}

	// A missing directory is created.
	if _, err := newServer(t, filepath.Join(dir, "sub", "k.sock")); err != nil {
		t.Fatal(err)
	}
}

func TestNew_InvalidConfig(t *testing.T) {
	js := fakeJournals(t)
	for name, cfg := range map[string]sidecar.Config{
		"no journals":             {},
		"bad default topic":       {Journals: js, DefaultTopic: "a b"},
		"default not allowed":     {Journals: js, AllowedTopics: []string{"other"}},
		"bad allowed topic":       {Journals: js, AllowedTopics: []string{"journal", ".."}},
		"tiny frames":             {Journals: js, MaxFrameBytes: 100},
		"negative in flight":      {Journals: js, MaxInFlight: -1},
		"negative connections":    {Journals: js, MaxConnections: -1},
		"mode beyond perms":       {Journals: js, SocketMode: os.ModeSetuid | 0o660},
		"negative grace":          {Journals: js, ShutdownGrace: -1},
		"sub-millisecond timeout": {Journals: js, DefaultTimeout: 1},
	} {
		if _, err := sidecar.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestHTTP_Endpoints(t *testing.T) {
	var ready atomic.Pointer[error]
	h := startFake(t, func(cfg *sidecar.Config) {
		cfg.Ready = func(context.Context) error {
			if e := ready.Load(); e != nil {
				return *e
			}
			return nil
		}
	})
	connect(t, h.socket).ping()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + h.srv.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	down := errors.New("cassandra: down")
	ready.Store(&down)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "cassandra: down") {
		t.Errorf("/readyz with a backend down: %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{`kjournal_sidecar_requests_total{code="OK",op="ping"} 1`, "kjournal_sidecar_connections 1",
		"kjournal_sidecar_open_streams 0", "kjournal_sidecar_request_duration_seconds_bucket"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q (status %d)", want, code)
		}
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}
