package sidecar

import (
	"context"
	"errors"

	"github.com/kjournal/kjournal/journal"
	"github.com/kjournal/kjournal/protocol"
)

// This file is the one place where errors become wire codes.

// Causes with which the server cancels a request's context; wireError turns them into their codes.
var (
	// errShuttingDown ends streams at the start of a shutdown, and every other request after the grace.
	errShuttingDown = protocol.NewError(0, protocol.CodeShuttingDown, "the sidecar is shutting down; retry on a new connection")
	// errCancelled ends a read stream the client cancelled.
	errCancelled = protocol.NewError(0, protocol.CodeCancelled, "the read was cancelled by the client")
	// errConnClosed ends the requests of a connection whose client went away; nobody sees the reply.
	errConnClosed = errors.New("sidecar: connection closed")
)

// wireError returns the error frame answering request id for err. When ctx has ended, its cause
// decides (a deadline is TIMEOUT, a cancel is CANCELLED, a shutdown SHUTTING_DOWN): what the backend
// returned then is only a consequence.
func wireError(ctx context.Context, id uint64, err error) *protocol.Error {
	if ctx != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
	}
	var pe *protocol.Error
	var we *journal.WrongExpectedSeqNrError
	switch {
	case errors.As(err, &pe):
		return pe.WithID(id)
	case errors.As(err, &we):
		e := protocol.NewError(id, protocol.CodeWrongExpectedSeqNr, "%v", err)
		e.HighestSeqNr = int64(we.Actual)
		return e
	case errors.Is(err, journal.ErrSnapshotsUnavailable):
		return protocol.NewError(id, protocol.CodeSnapshotsUnavailable, "%v", err)
	case errors.Is(err, journal.ErrRecordTooLarge):
		return protocol.NewError(id, protocol.CodeRecordTooLarge, "%v", err)
	case errors.Is(err, journal.ErrKafkaUnavailable):
		return protocol.NewError(id, protocol.CodeKafkaUnavailable, "%v", err)
	case errors.Is(err, journal.ErrCassandraUnavailable):
		return protocol.NewError(id, protocol.CodeCassandraUnavailable, "%v", err)
	case errors.Is(err, journal.ErrJournalPurged):
		return protocol.NewError(id, protocol.CodeJournalPurged, "%v", err)
	case errors.Is(err, journal.ErrFollowerUnavailable):
		return protocol.NewError(id, protocol.CodeFollowerUnavailable, "%v", err)
	case errors.Is(err, journal.ErrMarkerTimeout):
		return protocol.NewError(id, protocol.CodeMarkerTimeout, "%v", err)
	case errors.Is(err, journal.ErrDataIntegrity),
		errors.Is(err, journal.ErrMalformedHeader),
		errors.Is(err, journal.ErrMalformedEvents):
		return protocol.NewError(id, protocol.CodeDataIntegrity, "%v", err)
	case errors.Is(err, journal.ErrInvalidSeqNr), errors.Is(err, journal.ErrInvalidSeqRange):
		return protocol.NewError(id, protocol.CodeInvalidSeqNr, "%v", err)
	case errors.Is(err, journal.ErrInvalidEvents),
		errors.Is(err, journal.ErrInvalidKey),
		errors.Is(err, journal.ErrUnsupportedPayloadType),
		errors.Is(err, journal.ErrInvalidDuration):
		return protocol.NewError(id, protocol.CodeInvalidArgument, "%v", err)
	case errors.Is(err, errConnClosed):
		return protocol.NewError(id, protocol.CodeCancelled, "the client closed the connection")
	case errors.Is(err, journal.ErrClosed):
		return errShuttingDown.WithID(id)
	case errors.Is(err, context.DeadlineExceeded):
		return protocol.NewError(id, protocol.CodeTimeout, "the request's deadline passed: %v", err)
	case errors.Is(err, context.Canceled):
		// A cancel without a cause of ours: the connection or the server went away.
		return errShuttingDown.WithID(id)
	default:
		return protocol.NewError(id, protocol.CodeInternal, "%v", err)
	}
}

// codeLabel is the metrics label of a request's outcome: "OK" or the code's name.
func codeLabel(err *protocol.Error) string {
	if err == nil {
		return "OK"
	}
	return err.Code.String()
}
