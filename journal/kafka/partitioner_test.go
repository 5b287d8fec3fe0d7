package kafka_test

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal/kafka"
)

// hashing.json (testdata/compat/kafka-journal) holds Kafka default
// partitioner vectors computed with Kafka's Utils.murmur2 and checked
// against a Java program and published vectors; its segment vectors belong
// to journal/cassandra.
type partitionerVectors struct {
	KafkaDefaultPartitioner struct {
		Vectors []struct {
			Key        string           `json:"key"`
			KeyHex     string           `json:"key_utf8_hex"`
			Murmur2    int32            `json:"murmur2"`
			ToPositive int32            `json:"to_positive"`
			Partition  map[string]int32 `json:"partition"`
		} `json:"vectors"`
		Published []struct {
			Source         string `json:"source"`
			Key            string `json:"key"`
			KeyHex         string `json:"key_hex"`
			Murmur2        *int32 `json:"murmur2"`
			PartitionCount int32  `json:"partition_count"`
			Partition      *int32 `json:"partition"`
		} `json:"published_vectors"`
	} `json:"kafka_default_partitioner"`
}

func loadPartitionerVectors(t testing.TB) partitionerVectors {
	t.Helper()
	b, err := os.ReadFile("../../testdata/compat/kafka-journal/hashing.json")
	if err != nil {
		t.Fatal(err)
	}
	var v partitionerVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.KafkaDefaultPartitioner.Vectors) == 0 || len(v.KafkaDefaultPartitioner.Published) == 0 {
		t.Fatal("hashing.json has no partitioner vectors")
	}
	return v
}

// viaPartitioner runs the exported sarama partitioner as a producer would.
func viaPartitioner(t testing.TB, key []byte, n int32) int32 {
	t.Helper()
	p := kafka.Partitioner("topic")
	if !p.RequiresConsistency() {
		t.Error("Partitioner must require consistency (keyed records must not move)")
	}
	got, err := p.Partition(&sarama.ProducerMessage{Topic: "topic", Key: sarama.ByteEncoder(key)}, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// toPositive is murmur2 & 0x7fffffff. With MaxInt32 partitions the
// partition is toPositive itself unless it equals MaxInt32.
func checkToPositive(t *testing.T, key string, murmur2 int32) {
	want := murmur2 & 0x7fffffff
	if want == math.MaxInt32 {
		want = 0
	}
	if got := kafka.PartitionForKey(key, math.MaxInt32); got != want {
		t.Errorf("toPositive(murmur2(%q)) = %d, want %d", key, got, want)
	}
}

func TestPartitionForKey_Vectors(t *testing.T) {
	v := loadPartitionerVectors(t)
	for _, vec := range v.KafkaDefaultPartitioner.Vectors {
		t.Run(vec.Key, func(t *testing.T) {
			if hex.EncodeToString([]byte(vec.Key)) != vec.KeyHex {
				t.Fatalf("key %q is not UTF-8 %s", vec.Key, vec.KeyHex)
			}
			if vec.Murmur2&0x7fffffff != vec.ToPositive {
				t.Fatalf("vector inconsistent")
			}
			checkToPositive(t, vec.Key, vec.Murmur2)
			for ns, want := range vec.Partition {
				n, err := strconv.ParseInt(ns, 10, 32)
				if err != nil {
					t.Fatal(err)
				}
				if got := kafka.PartitionForKey(vec.Key, int32(n)); got != want {
					t.Errorf("PartitionForKey(%q, %d) = %d, want %d", vec.Key, n, got, want)
				}
				if got := viaPartitioner(t, []byte(vec.Key), int32(n)); got != want {
					t.Errorf("Partitioner(%q, %d) = %d, want %d", vec.Key, n, got, want)
				}
			}
		})
	}
}

func TestPartitionForKey_PublishedVectors(t *testing.T) {
	v := loadPartitionerVectors(t)
	for _, vec := range v.KafkaDefaultPartitioner.Published {
		t.Run(vec.Source+"/"+vec.Key, func(t *testing.T) {
			raw, err := hex.DecodeString(vec.KeyHex)
			if err != nil || string(raw) != vec.Key {
				t.Fatalf("key_hex %s does not match key %q", vec.KeyHex, vec.Key)
			}
			if vec.Murmur2 != nil {
				checkToPositive(t, vec.Key, *vec.Murmur2)
			}
			if vec.Partition != nil {
				if got := kafka.PartitionForKey(vec.Key, vec.PartitionCount); got != *vec.Partition {
					t.Errorf("PartitionForKey(%q, %d) = %d, want %d", vec.Key, vec.PartitionCount, got, *vec.Partition)
				}
				if got := viaPartitioner(t, raw, vec.PartitionCount); got != *vec.Partition {
					t.Errorf("Partitioner = %d, want %d", got, *vec.Partition)
				}
			}
		})
	}
}

func TestPartitionForKey_InvalidCount(t *testing.T) {
	for _, n := range []int32{0, -1} {
		if got := kafka.PartitionForKey("id", n); got != -1 {
			t.Errorf("PartitionForKey(id, %d) = %d, want -1", n, got)
		}
	}
	if got := kafka.PartitionForKey("id", 1); got != 0 {
		t.Errorf("one partition: %d", got)
	}
}
