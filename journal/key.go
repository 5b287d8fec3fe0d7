package journal

import (
	"strconv"
)

// Key identifies a journal: the Kafka topic that hosts it and its id, which
// is the Kafka record key.
type Key struct {
	Topic string
	ID    string
}

// String is "topic:id".
func (k Key) String() string { return k.Topic + ":" + k.ID }

// Validate returns an error wrapping ErrInvalidKey when topic or id is empty.
func (k Key) Validate() error {
	if k.Topic == "" || k.ID == "" {
		return &KeyError{Key: k}
	}
	return nil
}

// Compare orders keys by topic, then id (as the original does); it returns
// -1, 0 or +1.
func (k Key) Compare(o Key) int {
	switch {
	case k.Topic < o.Topic:
		return -1
	case k.Topic > o.Topic:
		return 1
	case k.ID < o.ID:
		return -1
	case k.ID > o.ID:
		return 1
	}
	return 0
}

// PartitionOffset is the position of a Kafka record.
type PartitionOffset struct {
	Partition int32
	Offset    int64
}

// String is "p:o".
func (p PartitionOffset) String() string {
	return strconv.FormatInt(int64(p.Partition), 10) + ":" + strconv.FormatInt(p.Offset, 10)
}

// Compare orders by partition, then offset; it returns -1, 0 or +1.
func (p PartitionOffset) Compare(o PartitionOffset) int {
	switch {
	case p.Partition < o.Partition:
		return -1
	case p.Partition > o.Partition:
		return 1
	case p.Offset < o.Offset:
		return -1
	case p.Offset > o.Offset:
		return 1
	}
	return 0
}
