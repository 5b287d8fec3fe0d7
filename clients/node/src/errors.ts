/**
 * The error classes. Every error the client raises for a failed operation is a {@link KjournalError};
 * arguments that are wrong before anything is sent raise the built-in `TypeError` or `RangeError`.
 *
 * - {@link SidecarError}: the sidecar answered with an error frame. One subclass per code of
 *   `protocol/codes.json` (generated into `codes.ts`, e.g. `InvalidSeqNrError`), and `SidecarError`
 *   itself for codes this version of the client does not know.
 * - {@link ConnectionError}: the connection could not be opened, or was lost or closed with the request
 *   in flight. Its outcome is unknown: an append may have been written.
 * - {@link BadReplyError}: the sidecar sent something this client cannot understand.
 *
 * @module
 */

/** Family of the errors raised by the client itself rather than sent by the sidecar. */
export const CLIENT_FAMILY = 'client';

/** Fields of a {@link KjournalError}, for its constructor. */
export interface KjournalErrorFields {
  /** The wire code (100..999), or 0 for errors raised by the client itself. */
  code: number;
  /** The code's name in `codes.json` (`"INVALID_SEQ_NR"`), or the client-side name. */
  codeName: string;
  /** `protocol`, `request`, `flow`, `backend`, `internal`, `unknown`, or `client`. */
  family: string;
  /** Whether the same request may succeed if sent again later. */
  retryable: boolean;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The root of every error the client raises for a failed operation. */
export class KjournalError extends Error {
  /** The wire error code (see `protocol/codes.json`); 0 for errors raised by the client itself. */
  readonly code: number;
  /** The code's name, e.g. `"TIMEOUT"`; `"CONNECTION"` and `"BAD_REPLY"` for client-side errors. */
  readonly codeName: string;
  /** The code's family (its hundreds): `protocol`, `request`, `flow`, `backend`, `internal`; `client` for code 0. */
  readonly family: string;
  /** Whether the same request may succeed if sent again later (on this or a new connection). */
  readonly retryable: boolean;

  constructor(message: string, fields: KjournalErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.codeName = fields.codeName;
    this.family = fields.family;
    this.retryable = fields.retryable;
  }
}

/**
 * An error frame from the sidecar: the request failed with `code`. `message` is the sidecar's message
 * (for humans, not to be parsed). `retryable` is the frame's own flag, which is authoritative over the
 * code table's default.
 */
export class SidecarError extends KjournalError {
  /**
   * Only with `WRONG_EXPECTED_SEQ_NR`: the journal's actual highest seq_nr (0: it has no events);
   * `null` for every other code.
   */
  highestSeqNr: number | bigint | null = null;
}

/**
 * The connection could not be opened, was lost, or was closed by {@link Client.close} while the request
 * was in flight. Retryable on a new connection, but the outcome of the lost request is unknown: an
 * append may have been written. `cause` holds the socket error or the sidecar's connection-level error
 * frame (e.g. a {@link SidecarError} with code `SHUTTING_DOWN`), when there was one.
 */
export class ConnectionError extends KjournalError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 0, codeName: 'CONNECTION', family: CLIENT_FAMILY, retryable: true, cause });
  }
}

/**
 * The sidecar sent a frame this client cannot decode or that breaks the protocol (a missing or
 * mistyped reply key, an oversized frame). Not retryable: it points at a bug or a version mismatch.
 */
export class BadReplyError extends KjournalError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 0, codeName: 'BAD_REPLY', family: CLIENT_FAMILY, retryable: false, cause });
  }
}

// `name` lives on each prototype, like the built-in errors' (not an own property of every instance).
for (const cls of [KjournalError, SidecarError, ConnectionError, BadReplyError]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, configurable: true, writable: true });
}
