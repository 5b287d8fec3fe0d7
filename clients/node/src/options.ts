import type { KjournalError } from './errors.js';
import { VERSION } from './version.js';

/** Options of {@link connect}. Every one is optional; {@link DEFAULT_OPTIONS} holds the defaults. */
export interface ConnectOptions {
  /**
   * The sidecar's Unix socket. Default: the environment variable `KJOURNAL_SOCKET`, else
   * `/var/run/kjournal/kjournal.sock`.
   */
  path?: string | undefined;
  /**
   * The deadline of every request, sent as `timeout_ms` (1..2^31−1), unless the call gives its own.
   * Default: none, so the sidecar applies its `default_timeout_ms` (30 s unless configured). The client
   * also gives up by itself {@link localDeadlineMarginMs} after that deadline, in case the sidecar is stuck.
   */
  timeoutMs?: number | undefined;
  /** How long connecting and the hello may take, in ms. Default 10 000. */
  connectTimeoutMs?: number | undefined;
  /** Added to a request's deadline for the client's own deadline, in ms. Default 2 000. */
  localDeadlineMarginMs?: number | undefined;
  /** A read's credit: how many events the sidecar may send ahead of the consumer. Default 256. */
  readBufferSize?: number | undefined;
  /** Sent in hello for the sidecar's logs and metrics. Default `kjournal-node/<version>`. */
  clientName?: string | undefined;
  /**
   * Called with the connection-level errors the sidecar sends (error frames with id 0), which belong
   * to no request. Those that end the connection (`SHUTTING_DOWN`, `FRAME_TOO_LARGE`) are also the
   * `cause` of the `ConnectionError` of the requests then in flight. Default: none.
   */
  onConnectionError?: ((err: KjournalError) => void) | undefined;
}

/** The socket path used when neither `path` nor `KJOURNAL_SOCKET` is set. */
export const DEFAULT_SOCKET_PATH = '/var/run/kjournal/kjournal.sock';

/** The defaults of {@link ConnectOptions}. */
export const DEFAULT_OPTIONS = Object.freeze({
  path: undefined as string | undefined,
  timeoutMs: undefined as number | undefined,
  connectTimeoutMs: 10_000,
  localDeadlineMarginMs: 2_000,
  readBufferSize: 256,
  clientName: `kjournal-node/${VERSION}`,
  onConnectionError: undefined as ((err: KjournalError) => void) | undefined,
});

/** Options with their defaults filled in and checked. */
export interface ResolvedOptions {
  path: string;
  timeoutMs: number | undefined;
  connectTimeoutMs: number;
  localDeadlineMarginMs: number;
  readBufferSize: number;
  clientName: string;
  onConnectionError: ((err: KjournalError) => void) | undefined;
}

function positive(name: string, v: unknown, max = 2 ** 31 - 1): number {
  if (typeof v !== 'number') throw new TypeError(`${name}: must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`${name}: must be an integer in 1..${max}, got ${v}`);
  return v;
}

/** Fills in defaults and checks the options. */
export function resolveOptions(o: ConnectOptions = {}): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('options: must be an object');
  const path = o.path ?? process.env['KJOURNAL_SOCKET'] ?? DEFAULT_SOCKET_PATH;
  if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a non-empty string');
  const margin = o.localDeadlineMarginMs ?? DEFAULT_OPTIONS.localDeadlineMarginMs;
  if (typeof margin !== 'number' || !Number.isInteger(margin) || margin < 0) throw new RangeError('localDeadlineMarginMs: must be an integer ≥ 0');
  const clientName = o.clientName ?? DEFAULT_OPTIONS.clientName;
  if (typeof clientName !== 'string') throw new TypeError('clientName: must be a string');
  if (o.onConnectionError !== undefined && typeof o.onConnectionError !== 'function') throw new TypeError('onConnectionError: must be a function');
  return {
    path,
    timeoutMs: o.timeoutMs === undefined ? undefined : positive('timeoutMs', o.timeoutMs),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs ?? DEFAULT_OPTIONS.connectTimeoutMs),
    localDeadlineMarginMs: margin,
    readBufferSize: positive('readBufferSize', o.readBufferSize ?? DEFAULT_OPTIONS.readBufferSize),
    clientName,
    onConnectionError: o.onConnectionError,
  };
}
