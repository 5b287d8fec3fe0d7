// Command waitready blocks until a local Kafka broker or Cassandra node really answers:
// Kafka when a metadata request succeeds, Cassandra when a CQL query succeeds.
// deploy/local/stack.sh runs it after starting each server.
//
//	waitready kafka 127.0.0.1:9092 [timeout]
//	waitready cassandra 127.0.0.1:9042 [timeout]
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: waitready kafka|cassandra HOST:PORT [TIMEOUT]")
		os.Exit(2)
	}
	timeout := 90 * time.Second
	if len(os.Args) > 3 {
		d, err := time.ParseDuration(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "waitready: bad timeout:", err)
			os.Exit(2)
		}
		timeout = d
	}
	var probe func(addr string) error
	switch os.Args[1] {
	case "kafka":
		probe = probeKafka
	case "cassandra":
		probe = probeCassandra
	default:
		fmt.Fprintln(os.Stderr, "waitready: unknown server kind", os.Args[1])
		os.Exit(2)
	}
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = probe(os.Args[2]); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "waitready: %s at %s not ready after %s: %v\n", os.Args[1], os.Args[2], timeout, err)
	os.Exit(1)
}

func probeKafka(addr string) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if len(client.Brokers()) == 0 {
		return errors.New("metadata lists no brokers")
	}
	// The controller must be elected too, or topic creation fails.
	_, err = client.Controller()
	return err
}

func probeCassandra(addr string) error {
	gocql.Logger = log.New(io.Discard, "", 0) // dial errors are expected while the node boots
	cluster := gocql.NewCluster(addr)
	cluster.ProtoVersion = 4
	cluster.Timeout = 5 * time.Second
	cluster.ConnectTimeout = 2 * time.Second
	cluster.DisableInitialHostLookup = true
	if os.Getenv("CASSANDRA_AUTH") == "1" {
		// stack.sh's password mode: ready once the default superuser can log in.
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: "cassandra", Password: "cassandra"}
	}
	session, err := cluster.CreateSession()
	if err != nil {
		return err
	}
	defer session.Close()
	var version string
	return session.Query("SELECT release_version FROM system.local").Scan(&version)
}
