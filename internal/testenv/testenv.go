// Package testenv gives integration tests the addresses of the real servers that `make test` starts
// (deploy/local/stack.sh), and skips a test, naming the variable, when they are not set.
//
// `make test` always sets KAFKA_BROKERS and CASSANDRA_HOSTS, so CI never skips these tests; a plain
// `go test ./...` on a machine without the stack skips them with a message instead of failing.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
)

// KafkaBrokers returns the brokers in $KAFKA_BROKERS (comma-separated) or skips the test.
func KafkaBrokers(tb testing.TB) []string {
	tb.Helper()
	return list(tb, "KAFKA_BROKERS")
}

// CassandraHosts returns the hosts in $CASSANDRA_HOSTS (comma-separated host:port) or skips the test.
func CassandraHosts(tb testing.TB) []string {
	tb.Helper()
	return list(tb, "CASSANDRA_HOSTS")
}

// SidecarSocket returns $KJOURNAL_SOCKET or skips the test.
func SidecarSocket(tb testing.TB) string {
	tb.Helper()
	return list(tb, "KJOURNAL_SOCKET")[0]
}

func list(tb testing.TB, name string) []string {
	tb.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		tb.Skipf("integration test: set %s (make test starts the real stack and sets it)", name)
	}
	return strings.Split(v, ",")
}

// Name returns prefix followed by a random suffix: a fresh topic, keyspace or journal id per test, so
// tests never see each other's data on the shared servers. Keyspace-safe (lowercase hex, underscores).
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// FreeAddr returns a loopback address with a port nothing listens on now, for a server a test
// starts (its HTTP port, say).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
