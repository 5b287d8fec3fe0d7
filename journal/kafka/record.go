// Package kafka is the Kafka side of kjournal on sarama: the mapping between
// journal actions and Kafka records, the Java-compatible key partitioner,
// and the Log that produces and reads actions.
//
// Records are those of evolution-gaming/kafka-journal: topic = key topic,
// record key = journal id, partition = Kafka's default (murmur2) key
// partitioner, timestamp = action time, header "journal.action" first, then
// the user headers of an Append, value = the encoded events of an Append and
// null for every other action.
package kafka

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/kjournal/kjournal/journal"
)

// Sentinel errors of the record mapping; test with errors.Is.
var (
	// ErrInvalidAction: an action that cannot become a record (invalid key,
	// no header, Append without value, header that does not encode).
	ErrInvalidAction = errors.New("kafka: invalid action")
	// ErrInvalidRecord: a journal record that cannot be read (its action
	// header does not parse, or a user header value is null or not UTF-8).
	// The original raises an error for these too; callers decide whether
	// to stall (the replicator) or fail the read.
	ErrInvalidRecord = errors.New("kafka: invalid record")
)

var headerKey = []byte(journal.HeaderKey)

// ProducerMessage maps an action to the record the original would produce.
// Partition is left to the producer's partitioner, which must be
// Partitioner.
func ProducerMessage(a journal.Action) (*sarama.ProducerMessage, error) {
	r, err := recordOf(a)
	if err != nil {
		return nil, err
	}
	msg := &sarama.ProducerMessage{
		Topic:     a.Key.Topic,
		Key:       sarama.StringEncoder(a.Key.ID),
		Timestamp: a.Timestamp,
		Headers:   r.headers,
	}
	if r.value != nil {
		msg.Value = sarama.ByteEncoder(r.value)
	}
	return msg, nil
}

// record is the content of an action's Kafka record: what ProducerMessage and the producer send.
type record struct {
	key     []byte
	value   []byte // nil for every action but an Append
	headers []sarama.RecordHeader
}

// recordOf validates a and maps it to its record: key = journal id, header "journal.action" first,
// then an Append's user headers sorted by name, value = an Append's encoded events.
func recordOf(a journal.Action) (record, error) {
	fail := func(format string, args ...any) (record, error) {
		return record{}, fmt.Errorf("producer record for %s: %w: %s", a.Key, ErrInvalidAction, fmt.Sprintf(format, args...))
	}
	if err := a.Key.Validate(); err != nil {
		return fail("%v", err)
	}
	if a.Header == nil {
		return fail("no action header")
	}
	header, err := journal.EncodeActionHeader(a.Header)
	if err != nil {
		return fail("%v", err)
	}
	r := record{key: []byte(a.Key.ID)}
	if a.Header.Kind() != journal.ActionAppend {
		r.headers = []sarama.RecordHeader{{Key: headerKey, Value: header}}
		return r, nil
	}
	if len(a.Value) == 0 {
		// A null value would make readers skip the record.
		return fail("append without value")
	}
	r.value = a.Value
	r.headers = make([]sarama.RecordHeader, 0, 1+len(a.Headers))
	r.headers = append(r.headers, sarama.RecordHeader{Key: headerKey, Value: header})
	if len(a.Headers) == 0 {
		return r, nil
	}
	keys := make([]string, 0, len(a.Headers))
	for k := range a.Headers {
		if k == journal.HeaderKey {
			return fail("user header %q is reserved", k)
		}
		if !utf8.ValidString(a.Headers[k]) {
			return fail("user header %q: value is not UTF-8", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic records; readers do not depend on the order
	for _, k := range keys {
		r.headers = append(r.headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(a.Headers[k])})
	}
	return r, nil
}

// ActionRecordOf maps a consumed record back to the action, as the
// original's consumer does. It returns ok false, without error, for records
// that carry no action: no key, no timestamp, no "journal.action" header, a
// header of an unknown action kind, or an Append with a null value. A header
// that does not parse, or a user header value that is null or not UTF-8,
// is an error wrapping ErrInvalidRecord (and journal.ErrMalformedHeader for
// the former). The Append value is not decoded here (see
// journal.DecodeEvents); Action.Value aliases msg.Value.
func ActionRecordOf(msg *sarama.ConsumerMessage) (rec journal.ActionRecord, ok bool, err error) {
	if msg == nil || msg.Key == nil || msg.Timestamp.IsZero() {
		return rec, false, nil
	}
	var header []byte
	found := false
	for _, h := range msg.Headers {
		if h != nil && string(h.Key) == journal.HeaderKey {
			header, found = h.Value, true
			break
		}
	}
	if !found {
		return rec, false, nil
	}
	fail := func(err error) (journal.ActionRecord, bool, error) {
		return journal.ActionRecord{}, false, fmt.Errorf("record %s/%d at offset %d: %w: %w", msg.Topic, msg.Partition, msg.Offset, ErrInvalidRecord, err)
	}
	h, err := journal.DecodeActionHeader(header)
	if err != nil {
		return fail(err)
	}
	if h == nil {
		return rec, false, nil
	}
	rec = journal.ActionRecord{
		Action: journal.Action{
			Key:       journal.Key{Topic: msg.Topic, ID: string(msg.Key)},
			Timestamp: msg.Timestamp,
			Header:    h,
		},
		PartitionOffset: journal.PartitionOffset{Partition: msg.Partition, Offset: msg.Offset},
	}
	if h.Kind() != journal.ActionAppend {
		return rec, true, nil
	}
	if msg.Value == nil {
		return journal.ActionRecord{}, false, nil
	}
	rec.Value = msg.Value
	for _, uh := range msg.Headers {
		if uh == nil || string(uh.Key) == journal.HeaderKey {
			continue
		}
		if uh.Value == nil || !utf8.Valid(uh.Value) {
			return fail(fmt.Errorf("header %q: value is null or not UTF-8", uh.Key))
		}
		if rec.Headers == nil {
			rec.Headers = make(journal.Headers)
		}
		rec.Headers[string(uh.Key)] = string(uh.Value) // the last of duplicate keys wins, as in the original
	}
	return rec, true, nil
}
