package cassandra

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
)

// SnapshotSlots is how many snapshots a journal keeps: the slots of its ring buffer in the
// snapshot table (the numberOfSnapshots of the original's planned snapshot store, whose default
// is 10). A save into a full buffer replaces the snapshot with the lowest seqNr.
const SnapshotSlots = 10

// createSnapshotCQL is the snapshot_buffer table of kafka-journal's unmerged snapshot branch
// (SnapshotStatements), column for column: one partition per journal, one row per buffer slot.
// kafka-journal's released versions never read or write it.
func createSnapshotCQL(table string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + table + ` (
id TEXT,
topic TEXT,
buffer_idx INT,
seq_nr BIGINT,
timestamp TIMESTAMP,
origin TEXT,
version TEXT,
metadata TEXT,
payload_type TEXT,
payload_txt TEXT,
payload_bin BLOB,
PRIMARY KEY ((id, topic), buffer_idx))
`
}

var _ journal.SnapshotStore = (*Store)(nil)

// snapshotLocks serialise the read-then-write of saves and deletes per journal within this
// process, so that two saves do not pick the same free slot. Saves from several processes to one
// journal are not serialised: a journal's snapshots are expected to have one writer.
type snapshotLocks struct {
	seed  maphash.Seed
	locks [64]sync.Mutex
}

func (l *snapshotLocks) of(key journal.Key) *sync.Mutex {
	return &l.locks[maphash.String(l.seed, key.Topic+"\x00"+key.ID)%uint64(len(l.locks))]
}

// slot is one row of a journal's snapshot buffer.
type slot struct {
	idx int
	s   journal.Snapshot
}

// SaveSnapshot stores s in the journal's buffer: in the slot holding the same seqNr, else a free
// slot, else the slot of the snapshot with the lowest seqNr (the oldest on ties).
func (st *Store) SaveSnapshot(ctx context.Context, key journal.Key, s journal.Snapshot) error {
	mu := st.snapLocks.of(key)
	mu.Lock()
	defer mu.Unlock()
	slots, err := st.snapshotSlots(ctx, key, -1)
	if err != nil {
		return err
	}
	idx := pickSlot(slots, s.SeqNr)
	var txt *string
	var bin []byte
	var pt *string
	if !s.Payload.IsEmpty() {
		t := string(s.Payload.Type)
		pt = &t
		if s.Payload.Type == journal.PayloadBinary {
			bin = append([]byte{}, s.Payload.Data...)
		} else {
			d := string(s.Payload.Data)
			txt = &d
		}
	}
	err = st.s.Query(`INSERT INTO `+st.snapshot+` (id, topic, buffer_idx, seq_nr, timestamp, origin, version, metadata, payload_type, payload_txt, payload_bin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		key.ID, key.Topic, idx, int64(s.SeqNr), s.Timestamp, nullable(s.Origin), nullable(s.Version), nullable(string(s.Metadata)), pt, txt, bin).
		WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
	return snapshotErr("save snapshot "+key.String(), err)
}

// LoadSnapshot returns the snapshot with the highest seqNr that c selects (the latest timestamp
// on ties): the slots' seqNrs and timestamps first, then the payload of the one selected only, so
// that a recovery reads one state, not ten.
func (st *Store) LoadSnapshot(ctx context.Context, key journal.Key, c journal.SnapshotCriteria) (journal.Snapshot, bool, error) {
	for {
		slots, err := st.snapshotSlots(ctx, key, -1)
		if err != nil {
			return journal.Snapshot{}, false, err
		}
		best := -1
		for i, sl := range slots {
			s, b := sl.s, journal.Snapshot{}
			if best >= 0 {
				b = slots[best].s
			}
			if c.Matches(s) && (best < 0 || s.SeqNr > b.SeqNr || s.SeqNr == b.SeqNr && s.Timestamp > b.Timestamp) {
				best = i
			}
		}
		if best < 0 {
			return journal.Snapshot{}, false, nil
		}
		full, err := st.snapshotSlots(ctx, key, slots[best].idx)
		if err != nil {
			return journal.Snapshot{}, false, err
		}
		// Unless a save or delete between the two reads changed the slot: then look again.
		if len(full) == 1 && full[0].s.SeqNr == slots[best].s.SeqNr && full[0].s.Timestamp == slots[best].s.Timestamp {
			return full[0].s, true, nil
		}
		if err := ctx.Err(); err != nil {
			return journal.Snapshot{}, false, err
		}
	}
}

// DeleteSnapshots deletes the snapshots c selects, in one statement.
func (st *Store) DeleteSnapshots(ctx context.Context, key journal.Key, c journal.SnapshotCriteria) (int, error) {
	mu := st.snapLocks.of(key)
	mu.Lock()
	defer mu.Unlock()
	slots, err := st.snapshotSlots(ctx, key, -1)
	if err != nil {
		return 0, err
	}
	var idx []int
	for _, sl := range slots {
		if c.Matches(sl.s) {
			idx = append(idx, sl.idx)
		}
	}
	if len(idx) == 0 {
		return 0, nil
	}
	err = st.s.Query(`DELETE FROM `+st.snapshot+` WHERE id = ? AND topic = ? AND buffer_idx IN ?`, key.ID, key.Topic, idx).
		WithContext(ctx).Consistency(st.cfg.WriteConsistency).Exec()
	if err != nil {
		return 0, snapshotErr("delete snapshots "+key.String(), err)
	}
	return len(idx), nil
}

// snapshotSlots reads the journal's buffer (at most SnapshotSlots rows) without payloads and
// metadata, or with idx >= 0 the whole row of that slot only (none when the slot is empty).
func (st *Store) snapshotSlots(ctx context.Context, key journal.Key, idx int) ([]slot, error) {
	payloads := idx >= 0
	q := st.s.Query(`SELECT buffer_idx, seq_nr, timestamp FROM `+st.snapshot+` WHERE id = ? AND topic = ?`, key.ID, key.Topic)
	if payloads {
		q = st.s.Query(`SELECT buffer_idx, seq_nr, timestamp, origin, version, metadata, payload_type, payload_txt, payload_bin FROM `+
			st.snapshot+` WHERE id = ? AND topic = ? AND buffer_idx = ?`, key.ID, key.Topic, idx)
	}
	iter := q.WithContext(ctx).Consistency(st.cfg.ReadConsistency).Iter()
	var (
		out                            []slot
		at                             int
		seqNr, ts                      int64
		origin, version, meta, pt, txt *string
		bin                            []byte
	)
	dest := []any{&at, &seqNr, &ts}
	if payloads {
		dest = append(dest, &origin, &version, &meta, &pt, &txt, &bin)
	}
	for iter.Scan(dest...) {
		s := journal.Snapshot{SeqNr: journal.SeqNr(seqNr), Timestamp: ts}
		if payloads {
			s.Origin, s.Version = deref(origin), deref(version)
			if m := deref(meta); m != "" {
				s.Metadata = []byte(m)
			}
			if pt != nil && *pt != "" {
				s.Payload.Type = journal.PayloadType(*pt)
				if s.Payload.Type == journal.PayloadBinary {
					s.Payload.Data = append([]byte{}, bin...)
				} else {
					s.Payload.Data = []byte(deref(txt))
				}
			}
		}
		out = append(out, slot{idx: at, s: s})
		origin, version, meta, pt, txt, bin = nil, nil, nil, nil, nil, nil
	}
	if err := iter.Close(); err != nil {
		return nil, snapshotErr("read snapshots "+key.String(), err)
	}
	return out, nil
}

// pickSlot chooses the slot a snapshot at seqNr is saved into.
func pickSlot(slots []slot, seqNr journal.SeqNr) int {
	used := map[int]bool{}
	for _, sl := range slots {
		if sl.s.SeqNr == seqNr {
			return sl.idx
		}
		used[sl.idx] = true
	}
	for i := range SnapshotSlots {
		if !used[i] {
			return i
		}
	}
	oldest := append([]slot(nil), slots...)
	sort.Slice(oldest, func(a, b int) bool {
		x, y := oldest[a].s, oldest[b].s
		return x.SeqNr < y.SeqNr || x.SeqNr == y.SeqNr && x.Timestamp < y.Timestamp
	})
	return oldest[0].idx
}

// snapshotErr wraps err, marking a missing table or a refused permission as
// journal.ErrSnapshotsUnavailable: the store cannot serve snapshots until an operator acts.
func snapshotErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		msg := strings.ToLower(re.Message())
		if re.Code() == gocql.ErrCodeUnauthorized || re.Code() == gocql.ErrCodeInvalid && strings.Contains(msg, "unconfigured table") {
			return fmt.Errorf("%s: %w: %w", op, journal.ErrSnapshotsUnavailable, err)
		}
	}
	return wrapErr(op, err)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
