/**
 * One connection to the sidecar: the socket, the reader loop that routes replies by id, the ids, the
 * in-flight slots, and the deadlines. Internal; the public face is `Client`.
 *
 * Invariants:
 * - Every frame is written with one `socket.write`, so frames never interleave.
 * - A request holds one of the sidecar's `max_in_flight` slots from just before it is sent until its
 *   final reply arrives (for a read: the end or error frame), also after the caller gave up on it
 *   locally, because the sidecar counts it until then. Requests beyond the slots wait in FIFO order.
 * - Ids come from a counter and are never reused, so a late reply can only meet its own handler.
 * - When the socket closes, every handler and every slot waiter is failed exactly once.
 *
 * @module
 */
import { createConnection, type Socket } from 'node:net';
import { TimeoutError } from './codes.js';
import { BadReplyError, ConnectionError, KjournalError, type SidecarError } from './errors.js';
import { FrameReader, FrameTooLargeError } from './frame.js';
import type { ResolvedOptions } from './options.js';
import { MAX_ID, PROTOCOL_VERSION, decodeBody, decodeHelloReply, encodeFrame, replyError, replyId, toWire, type Body, type WireRequest } from './protocol.js';
import type { ServerInfo } from './types.js';

/** Receives the frames of one request. */
export interface Handler {
  /** Handles a frame with the request's id; returns whether it was the request's final frame. */
  onFrame(body: Body): boolean;
  /** Handles a frame with the request's id that could not be decoded. Returns whether to free the id. */
  onBadFrame(err: BadReplyError): boolean;
  /** The connection ended while the request was in flight. */
  onClose(err: ConnectionError): void;
}

/** A request with its id, encoded. */
export interface Prepared {
  readonly id: number;
  readonly bytes: Buffer;
}

interface SlotWaiter {
  grant(): void;
  fail(err: Error): void;
}

/** A TimeoutError raised by the client's own deadline. */
export function localTimeout(what: string, ms: number): TimeoutError {
  return new TimeoutError(`${what}: no reply from the sidecar within ${ms} ms (the client's deadline)`, {
    code: 303,
    codeName: 'TIMEOUT',
    family: 'flow',
    retryable: true,
  });
}

// Reads the id of a body that does not decode, when it starts like a canonical reply: a map whose
// first key is "id" with a non-negative integer. Lets a request fail by itself rather than the
// connection, e.g. when a record holds something this client cannot decode.
function peekId(b: Uint8Array): number | undefined {
  let i = 0;
  const h = b[i++];
  if (h === undefined) return undefined;
  if (h >= 0x80 && h <= 0x8f) {
    // fixmap
  } else if (h === 0xde) i += 2;
  else if (h === 0xdf) i += 4;
  else return undefined;
  if (b[i] !== 0xa2 || b[i + 1] !== 0x69 || b[i + 2] !== 0x64) return undefined; // "id"
  i += 3;
  const t = b[i++];
  if (t === undefined) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let id: number;
  if (t <= 0x7f) id = t;
  else if (t === 0xcc && i + 1 <= b.length) id = view.getUint8(i);
  else if (t === 0xcd && i + 2 <= b.length) id = view.getUint16(i);
  else if (t === 0xce && i + 4 <= b.length) id = view.getUint32(i);
  else if (t === 0xcf && i + 8 <= b.length) id = Number(view.getBigUint64(i));
  else return undefined;
  return id >= 1 && id <= MAX_ID ? id : undefined;
}

export class Connection {
  readonly opts: ResolvedOptions;
  info: ServerInfo | undefined;
  private readonly socket: Socket;
  private outbox: Buffer[] = []; // frames to write at the end of this turn (write)
  private readonly reader = new FrameReader();
  private readonly handlers = new Map<number, Handler>();
  private nextId = 1;
  private inFlight = 0;
  private maxInFlight = 1; // until hello announces the limit
  private readonly waiters: SlotWaiter[] = [];
  private ended: ConnectionError | undefined; // set once the connection is unusable
  private closedByUser = false;
  private socketError: Error | undefined;
  private lastConnectionError: SidecarError | undefined;
  private connected = false; // the socket connected
  private resolveClosed!: (err: ConnectionError | undefined) => void;
  /** Resolves when the socket has closed: undefined after close(), else the error that ended it. */
  readonly closed: Promise<ConnectionError | undefined>;

  private constructor(opts: ResolvedOptions) {
    this.opts = opts;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.socket = createConnection({ path: opts.path });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      this.socketError ??= err;
    });
    this.socket.on('close', () => this.onSocketClose());
  }

  /** Connects, says hello, and resolves when the sidecar answered it. */
  static async open(opts: ResolvedOptions): Promise<Connection> {
    const conn = new Connection(opts);
    const timer = setTimeout(() => {
      conn.fail(new ConnectionError(`connect to ${opts.path}: no hello reply within ${opts.connectTimeoutMs} ms`));
    }, opts.connectTimeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        conn.socket.once('connect', () => {
          conn.connected = true;
          resolve();
        });
        void conn.closed.then((err) => reject(err ?? new ConnectionError(`connect to ${opts.path}: closed`)));
      });
      // A full sidecar writes TOO_MANY_CONNECTIONS and closes without reading. Give the event loop one
      // poll for that frame before writing hello: a write to the closed socket (EPIPE) would destroy
      // the socket with the frame still unread.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      conn.checkOpen();
      const wire = toWire({ op: 'hello', versions: [PROTOCOL_VERSION], client: opts.clientName });
      const info = await conn.call(wire, opts.connectTimeoutMs, decodeHelloReply);
      if (info.version !== PROTOCOL_VERSION) {
        throw new BadReplyError(`hello reply: version ${info.version} was not offered (offered ${PROTOCOL_VERSION})`);
      }
      conn.info = Object.freeze(info);
      conn.reader.maxFrameBytes = info.maxFrameBytes;
      conn.maxInFlight = info.maxInFlight;
      conn.grantWaiting();
      return conn;
    } catch (err) {
      // A connection-level error before hello (TOO_MANY_CONNECTIONS) says more than the close it causes.
      const reason = err instanceof ConnectionError && conn.lastConnectionError ? conn.lastConnectionError : err;
      conn.fail(reason instanceof ConnectionError ? reason : new ConnectionError(`connect to ${opts.path}: ${(reason as Error).message}`, reason));
      throw reason;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether close() was called or the connection was lost. */
  get isClosed(): boolean {
    return this.ended !== undefined;
  }

  /** How many requests (open read streams included) the sidecar counts in flight. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** The deadline the sidecar applies to a request sent with this `timeout_ms`. */
  deadlineMs(timeoutMs: unknown): number {
    return typeof timeoutMs === 'number' ? timeoutMs : (this.opts.timeoutMs ?? this.info?.defaultTimeoutMs ?? 30_000);
  }

  /** The client's own deadline for a request with this `timeout_ms`. */
  localDeadlineMs(timeoutMs: unknown): number {
    return this.deadlineMs(timeoutMs) + this.opts.localDeadlineMarginMs;
  }

  /** Throws the connection's end error if it is closed. */
  checkOpen(): void {
    if (this.ended) throw new ConnectionError(this.ended.message, this.ended.cause);
  }

  /**
   * Waits for an in-flight slot. Rejects with `TimeoutError` after `deadlineMs`, or with
   * `ConnectionError` if the connection ends first.
   */
  acquire(deadlineMs: number, what: string): Promise<void> {
    if (this.ended) return Promise.reject(new ConnectionError(this.ended.message, this.ended.cause));
    if (this.inFlight < this.maxInFlight && this.waiters.length === 0) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w: SlotWaiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(localTimeout(what, deadlineMs));
      }, deadlineMs);
      timer.unref();
      this.waiters.push(w);
    });
  }

  private grantWaiting(): void {
    while (this.waiters.length > 0 && this.inFlight < this.maxInFlight) {
      this.inFlight++;
      this.waiters.shift()!.grant();
    }
  }

  /** Gives back a slot taken by {@link acquire} without sending. */
  releaseSlot(): void {
    this.release();
  }

  private release(): void {
    this.inFlight--;
    this.grantWaiting();
  }

  /**
   * Gives a request its id and encodes it. Done before waiting for a slot, so that a request too
   * large to send fails at once.
   * @throws RangeError if the frame is larger than max_frame_bytes.
   */
  prepare(wire: WireRequest): Prepared {
    const id = this.nextId++;
    const bytes = encodeFrame(id, wire);
    const max = this.info?.maxFrameBytes ?? this.reader.maxFrameBytes;
    if (bytes.length - 4 > max) {
      throw new RangeError(`${wire.op}: the request is ${bytes.length - 4} bytes, more than max_frame_bytes ${max}; split it`);
    }
    return { id, bytes };
  }

  /**
   * Sends a prepared request that holds a slot (acquired by the caller) and routes its frames to
   * `handler`. If the connection has ended, gives the slot back and throws its ConnectionError.
   */
  send(p: Prepared, handler: Handler): void {
    if (this.ended) {
      this.release();
      throw new ConnectionError(this.ended.message, this.ended.cause);
    }
    this.handlers.set(p.id, handler);
    this.write(p.bytes);
  }

  /** Sends `credit` or `cancel` for an open stream: no slot, no reply. */
  sendControl(id: number, wire: WireRequest): void {
    if (this.ended) return;
    this.write(encodeFrame(id, wire));
  }

  /**
   * Queues a frame; the frames queued by one turn of the event loop (say, the appends its replies
   * resumed) go out in one `socket.write` once its microtasks ran, not one write (a syscall) each.
   */
  private write(frame: Buffer): void {
    this.outbox.push(frame);
    if (this.outbox.length === 1) queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const frames = this.outbox;
    if (frames.length === 0) return;
    this.outbox = [];
    if (this.socket.destroyed) return;
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /**
   * A request with one reply: waits for a slot, sends, and resolves with `decode(reply)` or rejects
   * with the reply's error, a `ConnectionError`, or a local `TimeoutError`.
   */
  call<T>(wire: WireRequest, timeoutMs: number | undefined, decode: (b: Body) => T): Promise<T> {
    const local = timeoutMs ?? this.localDeadlineMs(wire['timeout_ms']);
    const what = String(wire.op);
    let prepared: Prepared;
    try {
      prepared = this.prepare(wire);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => settle(() => reject(localTimeout(what, local))), local);
      timer.unref();
      const go = () => {
        if (settled) {
          this.release();
          return;
        }
        try {
          this.send(prepared, {
            onFrame: (b) => {
              settle(() => {
                try {
                  const err = replyError(b);
                  if (err) reject(err);
                  else resolve(decode(b));
                } catch (e) {
                  reject(e);
                }
              });
              return true;
            },
            onBadFrame: (err) => {
              settle(() => reject(err));
              return true;
            },
            onClose: (err) => settle(() => reject(err)),
          });
        } catch (err) {
          settle(() => reject(err));
        }
      };
      // A free slot is taken at once, without a promise turn in between.
      if (!this.ended && this.inFlight < this.maxInFlight && this.waiters.length === 0) {
        this.inFlight++;
        go();
        return;
      }
      this.acquire(local, what).then(go, (err: unknown) => settle(() => reject(err)));
    });
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      const e = err instanceof FrameTooLargeError ? new BadReplyError(`sidecar sent a ${err.message}`, err) : err;
      this.fail(new ConnectionError('connection closed: the sidecar sent a frame this client cannot read', e));
      return;
    }
    for (const body of bodies) {
      if (this.ended) return;
      this.dispatch(body);
    }
  }

  private dispatch(bytes: Buffer): void {
    let body: Body;
    let id: number;
    try {
      body = decodeBody(bytes);
      id = replyId(body);
    } catch (err) {
      const bad = err instanceof BadReplyError ? err : new BadReplyError(String(err), err);
      const peeked = peekId(bytes);
      const h = peeked === undefined ? undefined : this.handlers.get(peeked);
      if (peeked !== undefined && h) {
        if (h.onBadFrame(bad)) {
          this.handlers.delete(peeked);
          this.release();
        }
        return;
      }
      this.fail(new ConnectionError('connection closed: the sidecar sent a frame this client cannot read', bad));
      return;
    }
    if (id === 0) {
      this.onConnectionLevel(body);
      return;
    }
    const h = this.handlers.get(id);
    if (!h) return; // not ours (any more): nothing to do
    if (h.onFrame(body)) {
      this.handlers.delete(id);
      this.release();
    }
  }

  private onConnectionLevel(body: Body): void {
    let err: KjournalError | undefined;
    try {
      err = replyError(body);
    } catch (e) {
      err = e instanceof KjournalError ? e : undefined;
    }
    if (!err) err = new BadReplyError('a frame with id 0 that is not an error frame');
    if (err instanceof BadReplyError) {
      this.fail(new ConnectionError('connection closed: the sidecar sent a frame this client cannot read', err));
      return;
    }
    this.lastConnectionError = err as SidecarError;
    try {
      this.opts.onConnectionError?.(err);
    } catch {
      // A throwing callback must not break the reader loop.
    }
  }

  /** Ends the connection with `err`: every request in flight and every waiter fails with it. */
  fail(err: ConnectionError): void {
    if (this.ended) return;
    this.ended = err;
    const handlers = [...this.handlers.values()];
    this.handlers.clear();
    const waiters = this.waiters.splice(0);
    for (const h of handlers) h.onClose(err);
    for (const w of waiters) w.fail(err);
    this.socket.destroy();
  }

  private onSocketClose(): void {
    if (!this.ended) {
      const cut = this.reader.buffered > 0 ? ' in the middle of a frame' : '';
      const cause = this.lastConnectionError ?? this.socketError;
      const why = cause ? `: ${cause.message}` : '';
      const what = this.connected ? `connection to ${this.opts.path} closed${cut}` : `connect to ${this.opts.path}`;
      this.fail(new ConnectionError(`${what}${why}`, cause));
    }
    this.resolveClosed(this.closedByUser ? undefined : this.ended);
  }

  /** Closes the connection: requests in flight fail with `ConnectionError` (their outcome is unknown). */
  async close(): Promise<void> {
    if (!this.ended) {
      this.closedByUser = true;
      this.ended = new ConnectionError('client closed');
      const handlers = [...this.handlers.values()];
      this.handlers.clear();
      const waiters = this.waiters.splice(0);
      for (const h of handlers) h.onClose(this.ended);
      for (const w of waiters) w.fail(this.ended);
      this.flush(); // cancels of streams left early go out before the end
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    await this.closed;
  }
}
