package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gocql/gocql"

	"github.com/kjournal/kjournal/journal"
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
	// ErrNoSchema (with Config.NoCreateSchema): the keyspace lacks a kjournal table or its schema
	// version is older than SchemaVersion, still so at Config.StartTimeout.
	ErrNoSchema = errors.New("cassandra: no kjournal schema")
	// ErrAuth: Cassandra refused the credentials, or the role lacks a permission a statement
	// needs. Not retried: waiting does not grant permissions.
	ErrAuth = errors.New("cassandra: not authorized")
	// ErrLockTimeout: the schema lock in the locks table was not acquired within
	// Config.LockTimeout (another node holds it, or a crashed one did and its TTL has not run out).
	ErrLockTimeout = errors.New("cassandra: lock not acquired")
	// ErrDataIntegrity is journal.ErrDataIntegrity: the tables hold something a consistent journal
	// cannot, such as two rows with the same seqNr or an unreadable metadata column.
	ErrDataIntegrity = journal.ErrDataIntegrity
	// ErrInvalidArgument: a write called with arguments that cannot be stored (no events, invalid
	// seqNr, negative expireAfter, ...).
	ErrInvalidArgument = errors.New("cassandra: invalid argument")
	// ErrClosed is journal.ErrClosed: the store was closed.
	ErrClosed = journal.ErrClosed
)

// Errors of gocql that mean Cassandra could not serve the request (time-outs, unavailable
// replicas, no connection) are returned wrapped in journal.ErrCassandraUnavailable, so callers
// can tell "retry later" from a bug without knowing gocql; see wrapErr.

// authError reports whether err is Cassandra refusing the credentials or a permission. gocql
// formats the errors of session creation with %v, so there the text is all that is left.
func authError(err error) bool {
	if err == nil {
		return false
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		return re.Code() == gocql.ErrCodeCredentials || re.Code() == gocql.ErrCodeUnauthorized
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"password are incorrect", "authentication required", "failed to authenticate", "has no select permission", "unauthorized"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

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

// wrapErr adds context to a gocql error and classifies it: a context error stays as is, a
// request Cassandra rejected as invalid stays a plain error, anything else (time-outs,
// unavailable, overloaded, connection and session errors) wraps journal.ErrCassandraUnavailable.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, gocql.ErrSessionClosed) {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeUnauthorized, gocql.ErrCodeConfig,
			gocql.ErrCodeAlreadyExists, gocql.ErrCodeCredentials, gocql.ErrCodeProtocol:
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w: %w", op, journal.ErrCassandraUnavailable, err)
}
