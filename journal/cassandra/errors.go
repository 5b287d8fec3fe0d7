package cassandra

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them or a gocql error; test with
// errors.Is.
var (
	// ErrInvalidConfig: a Config that fails validation.
	ErrInvalidConfig = errors.New("cassandra: invalid config")
	// ErrConnect: no session could be created before Config.StartTimeout.
	ErrConnect = errors.New("cassandra: cannot connect")
	// ErrSchema: the keyspace or a table is missing and may not be created, or a migration failed.
	ErrSchema = errors.New("cassandra: schema")
	// ErrLockTimeout: the schema lock in the locks table was not acquired within
	// Config.LockTimeout (another node holds it, or a crashed one did and its TTL has not run out).
	ErrLockTimeout = errors.New("cassandra: lock not acquired")
	// ErrDataIntegrity: the journal table holds something a consistent journal cannot, such as
	// two rows with the same seqNr.
	ErrDataIntegrity = errors.New("cassandra: data integrity violated")
	// ErrInvalidArgument: a write called with arguments that cannot be stored (no events, invalid
	// seqNr, negative expireAfter, ...).
	ErrInvalidArgument = errors.New("cassandra: invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("cassandra: store closed")
)

// MigrationError reports the migration step that failed with an error other than the
// "already exists"/"does not exist" ones that are expected when a step was applied before.
type MigrationError struct {
	Version   int    // the schema version the step leads to
	Statement string // the CQL statement
	Err       error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("cassandra: schema migration to version %d failed: %v", e.Version, e.Err)
}

// Unwrap returns both ErrSchema and the cause.
func (e *MigrationError) Unwrap() []error { return []error{ErrSchema, e.Err} }
