package cassandra_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kjournal/kjournal/journal/cassandra"
)

func TestParseReplication(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want cassandra.Replication
		err  bool
	}{
		{in: "SimpleStrategy", want: cassandra.Replication{Class: cassandra.SimpleStrategy, Factor: 1}},
		{in: "simple:3", want: cassandra.Replication{Class: cassandra.SimpleStrategy, Factor: 3}},
		{in: "NetworkTopologyStrategy:dc1=3,dc2=2", want: cassandra.Replication{Class: cassandra.NetworkTopologyStrategy, DCs: map[string]int{"dc1": 3, "dc2": 2}}},
		{in: "networktopology:eu-west=3", want: cassandra.Replication{Class: cassandra.NetworkTopologyStrategy, DCs: map[string]int{"eu-west": 3}}},
		{in: "simple:0", err: true},
		{in: "networktopology:", err: true},
		{in: "networktopology:dc1", err: true},
		{in: "Everywhere", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cassandra.ParseReplication(tc.in)
			if tc.err {
				if !errors.Is(err, cassandra.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Class != tc.want.Class || got.Factor != tc.want.Factor || len(got.DCs) != len(tc.want.DCs) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for dc, n := range tc.want.DCs {
				if got.DCs[dc] != n {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestOpen_InvalidConfig(t *testing.T) {
	for name, cfg := range map[string]cassandra.Config{
		"no hosts":         {},
		"keyspace":         {Hosts: []string{"h"}, Keyspace: "bad-name"},
		"table":            {Hosts: []string{"h"}, Tables: cassandra.Tables{Journal: "x; DROP"}},
		"segment size":     {Hosts: []string{"h"}, SegmentSize: 1},
		"replication":      {Hosts: []string{"h"}, Replication: cassandra.Replication{Class: "Everywhere"}},
		"nts without dcs":  {Hosts: []string{"h"}, Replication: cassandra.Replication{Class: cassandra.NetworkTopologyStrategy}},
		"simple factor -1": {Hosts: []string{"h"}, Replication: cassandra.Replication{Factor: -1}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := cassandra.Open(context.Background(), cfg); !errors.Is(err, cassandra.ErrInvalidConfig) {
				t.Fatalf("Open = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
