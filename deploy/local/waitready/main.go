// Command waitready blocks until local Kafka brokers or Cassandra nodes really answer:
// Kafka when a metadata request succeeds, Cassandra when a CQL query succeeds. With KJ_NODES=N
// above 1 (a cluster), each broker must also list N live brokers and each Cassandra node know N-1
// peers, so that topics with replication factor N can be created. deploy/local/stack.sh runs it after
// starting servers.
//
//	waitready kafka 127.0.0.1:9092[,127.0.0.2:9092...] [timeout]
//	waitready cassandra 127.0.0.1:9042[,...] [timeout]
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
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
	nodes := 1
	if s := os.Getenv("KJ_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "waitready: bad KJ_NODES:", s)
			os.Exit(2)
		}
		nodes = n
	}
	var probe func(addr string, nodes int) error
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
		if err = probeAll(probe, strings.Split(os.Args[2], ","), nodes); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "waitready: %s at %s not ready after %s: %v\n", os.Args[1], os.Args[2], timeout, err)
	os.Exit(1)
}

func probeAll(probe func(string, int) error, addrs []string, nodes int) error {
	for _, a := range addrs {
		if err := probe(a, nodes); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	return nil
}

func probeKafka(addr string, nodes int) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if n := len(client.Brokers()); n < nodes {
		return fmt.Errorf("metadata lists %d live brokers, want %d", n, nodes)
	}
	// The controller must be elected too, or topic creation fails.
	_, err = client.Controller()
	return err
}

func probeCassandra(addr string, nodes int) error {
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
	if err := session.Query("SELECT release_version FROM system.local").Scan(&version); err != nil {
		return err
	}
	if nodes == 1 {
		return nil
	}
	var peers int
	if err := session.Query("SELECT count(*) FROM system.peers_v2").Scan(&peers); err != nil {
		return err
	}
	if peers < nodes-1 {
		return fmt.Errorf("knows %d peers, want %d", peers, nodes-1)
	}
	return nil
}
