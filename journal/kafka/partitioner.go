package kafka

import "github.com/IBM/sarama"

// Partitioner is the partitioner every kjournal producer must use. It is
// sarama's murmur2 partitioner, which reproduces the Java client's default
// partitioner for keyed records, toPositive(murmur2(keyBytes)) %
// numPartitions (Utils.murmur2 with seed 0x9747b28c, toPositive = & 0x7fffffff),
// so that a journal's actions land in the partition where the original's
// readers and replicators look for them. sarama's default hash partitioner
// (FNV-1a) and NewCustomPartitioner options do not give that mapping.
// Records without a key get a random partition (journal records always have
// one).
var Partitioner sarama.PartitionerConstructor = sarama.NewMurmur2Partitioner

// keyPartitioner only ever sees keyed messages, for which sarama's murmur2
// partitioner keeps no state; it is safe for concurrent use.
var keyPartitioner = sarama.NewMurmur2Partitioner("")

// PartitionForKey returns the partition the Java client's default
// partitioner (and Partitioner) picks for record key key among
// numPartitions partitions, or -1 if numPartitions < 1.
func PartitionForKey(key string, numPartitions int32) int32 {
	if numPartitions < 1 {
		return -1
	}
	p, err := keyPartitioner.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, numPartitions)
	if err != nil { // StringEncoder never fails
		return -1
	}
	return p
}
