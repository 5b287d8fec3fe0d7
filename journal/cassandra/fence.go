package cassandra

import (
	"context"
	"errors"
	"time"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
)

// createFenceCQL is the table of journal.Fence: one row per journal fenced by conditional appends.
// Not one of kafka-journal's tables; its nodes never read or write it.
func createFenceCQL(table string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + table + ` (
topic TEXT,
id TEXT,
seq_nr BIGINT,
claimed TIMESTAMP,
PRIMARY KEY ((topic, id)))
`
}

var _ journal.Fence = (*Store)(nil)

// Claimed reads the journal's fence row with a serial read, which sees every claim made before.
func (st *Store) Claimed(ctx context.Context, key journal.Key) (journal.FenceClaim, bool, error) {
	var seqNr int64
	var at time.Time
	err := st.s.Query(`SELECT seq_nr, claimed FROM `+st.fence+` WHERE topic = ? AND id = ?`, key.Topic, key.ID).
		WithContext(ctx).Consistency(gocql.Consistency(gocql.Serial)).Scan(&seqNr, &at)
	if errors.Is(err, gocql.ErrNotFound) {
		return journal.FenceClaim{}, false, nil
	}
	if err != nil {
		return journal.FenceClaim{}, false, snapshotErr("read fence "+key.String(), err)
	}
	return journal.FenceClaim{SeqNr: journal.SeqNr(seqNr), At: at}, true, nil
}

// Claim moves the journal's fence from prev to next with a lightweight transaction.
func (st *Store) Claim(ctx context.Context, key journal.Key, prev journal.FenceClaim, prevOK bool, next journal.SeqNr) (bool, journal.FenceClaim, error) {
	var q *gocql.Query
	now := time.Now()
	if prevOK {
		q = st.s.Query(`UPDATE `+st.fence+` SET seq_nr = ?, claimed = ? WHERE topic = ? AND id = ? IF seq_nr = ?`,
			int64(next), now, key.Topic, key.ID, int64(prev.SeqNr))
	} else {
		q = st.s.Query(`INSERT INTO `+st.fence+` (topic, id, seq_nr, claimed) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
			key.Topic, key.ID, int64(next), now)
	}
	existing := map[string]any{}
	applied, err := q.WithContext(ctx).Consistency(st.cfg.WriteConsistency).SerialConsistency(gocql.Serial).MapScanCAS(existing)
	if err != nil {
		return false, journal.FenceClaim{}, snapshotErr("claim fence "+key.String(), err)
	}
	var cur journal.FenceClaim
	if v, ok := existing["seq_nr"].(int64); ok {
		cur.SeqNr = journal.SeqNr(v)
	}
	if v, ok := existing["claimed"].(time.Time); ok {
		cur.At = v
	}
	return applied, cur, nil
}

// Reset deletes the journal's fence row (a lightweight transaction too: Cassandra does not order
// plain writes after serial ones).
func (st *Store) Reset(ctx context.Context, key journal.Key) error {
	_, err := st.s.Query(`DELETE FROM `+st.fence+` WHERE topic = ? AND id = ? IF EXISTS`, key.Topic, key.ID).
		WithContext(ctx).Consistency(st.cfg.WriteConsistency).SerialConsistency(gocql.Serial).MapScanCAS(map[string]any{})
	return snapshotErr("reset fence "+key.String(), err)
}
