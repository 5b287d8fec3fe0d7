package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/hashicorp/go-hclog"
)

// LockID is the id of the row in the locks table that guards schema changes: the id the original
// passes to cassandra-sync, so a Scala node and this package exclude each other.
const LockID = "kafka-journal"

// lockInterval is cassandra-sync's polling interval.
const lockInterval = 100 * time.Millisecond

// lock is evolution-gaming/cassandra-sync's CassandraSync: a row inserted with a lightweight
// transaction (INSERT ... IF NOT EXISTS USING TTL) is the lock, polled for until acquired or the
// timeout, and deleted (DELETE ... IF EXISTS, also a lightweight transaction) to release it. The
// TTL frees the lock of a holder that died.
type lock struct {
	s        *gocql.Session
	keyspace string
	table    string
	create   bool // create the locks table when missing (keyspace auto-create)
	expiry   time.Duration
	timeout  time.Duration
	origin   string
	cons     gocql.Consistency
	log      hclog.Logger
}

func (l *lock) qualified() string { return l.keyspace + "." + l.table }

// with runs fn while holding the lock.
func (l *lock) with(ctx context.Context, fn func(context.Context) error) error {
	if l.create {
		if err := l.createTable(ctx); err != nil {
			return err
		}
	}
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release(ctx)
	return fn(ctx)
}

func (l *lock) createTable(ctx context.Context) error {
	have, err := tables(ctx, l.s, l.keyspace)
	if err != nil {
		return fmt.Errorf("read tables of %s: %w", l.keyspace, err)
	}
	if have[l.table] {
		return nil
	}
	if err := l.s.Query(createLocksCQL(l.qualified())).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("create %s: %w", l.qualified(), err)
	}
	return nil
}

func (l *lock) acquire(ctx context.Context) error {
	start := time.Now()
	deadline := start.Add(l.timeout)
	ttl := max(int(l.expiry/time.Second), 1)
	var metadata *string
	if l.origin != "" {
		metadata = &l.origin
	}
	stmt := `INSERT INTO ` + l.qualified() + ` (id, expiry_ms, timestamp, metadata) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?`
	// Attempts whose outcome is unknown (the lightweight transaction timed out): if one did
	// apply, the row we then find is ours, recognised by its timestamp and metadata.
	uncertain := map[int64]bool{}
	for attempt := 1; ; attempt++ {
		now := time.Now().Truncate(time.Millisecond)
		existing := map[string]any{}
		applied, err := l.s.Query(stmt, LockID, l.expiry.Milliseconds(), now, metadata, ttl).
			WithContext(ctx).Consistency(l.cons).SerialConsistency(gocql.Serial).Idempotent(true).
			MapScanCAS(existing)
		switch {
		case err == nil && !applied && l.ours(existing, uncertain):
			applied = true
		case err != nil && uncertainOutcome(err):
			uncertain[now.UnixMilli()] = true
			l.log.Debug("lock attempt timed out, polling again", "id", LockID, "error", err)
		case err != nil && l.create && missingTable(err):
			// Another process is creating the locks table at this moment and its schema
			// change is still settling: poll as if the lock were taken.
		case err != nil:
			return fmt.Errorf("acquire lock %s in %s: %w", LockID, l.qualified(), err)
		}
		if err == nil && applied {
			l.log.Debug("lock acquired", "id", LockID, "attempts", attempt, "waited", time.Since(start))
			// cassandra-sync pauses after every attempt, the successful one included.
			return sleep(ctx, lockInterval)
		}
		if attempt == 1 {
			l.log.Info("waiting for lock", "id", LockID, "table", l.qualified())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s in %s within %v", ErrLockTimeout, LockID, l.qualified(), l.timeout)
		}
		if err := sleep(ctx, lockInterval); err != nil {
			return err
		}
	}
}

// ours reports whether the lock row a failed insert found is one of our own attempts whose
// outcome was unknown.
func (l *lock) ours(existing map[string]any, uncertain map[int64]bool) bool {
	ts, _ := existing["timestamp"].(time.Time)
	md, _ := existing["metadata"].(string)
	return len(uncertain) > 0 && uncertain[ts.UnixMilli()] && md == l.origin
}

// uncertainOutcome reports whether err leaves open whether a lightweight transaction applied.
func uncertainOutcome(err error) bool {
	var wt *gocql.RequestErrWriteTimeout
	var cu *gocql.RequestErrCASWriteUnknown
	var un *gocql.RequestErrUnavailable
	return errors.As(err, &wt) || errors.As(err, &cu) || errors.As(err, &un) || errors.Is(err, gocql.ErrTimeoutNoResponse)
}

// release deletes the lock row even when ctx is done: leaving it would block every other node
// until the TTL runs out.
func (l *lock) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		_, err = l.s.Query(`DELETE FROM `+l.qualified()+` WHERE id = ? IF EXISTS`, LockID).
			WithContext(ctx).Consistency(l.cons).SerialConsistency(gocql.Serial).Idempotent(true).
			MapScanCAS(map[string]any{})
		if err == nil || !uncertainOutcome(err) {
			break
		}
	}
	if err != nil {
		l.log.Warn("cannot release lock; it expires by itself", "id", LockID, "ttl", l.expiry, "error", err)
	}
}

// missingTable reports whether err is Cassandra's "table does not exist".
func missingTable(err error) bool {
	var re gocql.RequestError
	if !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
		return false
	}
	msg := strings.ToLower(re.Message())
	return strings.Contains(msg, "doesn't exist") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "unconfigured table")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
