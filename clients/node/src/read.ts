import type { BadReplyError, ConnectionError } from './errors.js';
import { localTimeout, type Connection, type Handler } from './connection.js';
import { decodeReadFrame, replyError, toWire, type Body, type ReadFrame, type SubscriptionFrame, type WireRequest } from './protocol.js';
import type { EventRecord, SeqNr } from './types.js';

type State =
  | 'new' // not iterated yet: nothing sent
  | 'open' // the read is in flight
  | 'done'; // the iterator has finished (end, error, break); frames still coming are dropped

/**
 * The machinery shared by {@link ReadStream} and {@link Subscription}: one stream of events paced by
 * credit, iterated once with `for await`, cancelled when the loop is left early.
 */
abstract class EventStream<T> implements AsyncIterable<T> {
  #conn: Connection;
  #wire: WireRequest;
  #credit: number;
  #state: State = 'new';
  #iterated = false;
  #id = 0;
  #final = false; // the sidecar sent the stream's final frame (or the connection ended)
  #queue: T[] = [];
  #head = 0;
  #outcome: { error: unknown } | { highest: SeqNr | null } | undefined; // how the stream ends, delivered once the queue is drained
  #wake: (() => void) | undefined;
  #consumed = 0; // events taken since the last credit
  #chain: Promise<unknown> = Promise.resolve(); // the last next() call, settled

  #decode: (b: Body) => ReadFrame | SubscriptionFrame<T>;
  #live: boolean; // a subscription: frames may take any time to come, so no local deadline applies
  #skip: ((r: T) => boolean) | undefined;

  constructor(conn: Connection, wire: WireRequest, credit: number, decode: (b: Body) => ReadFrame | SubscriptionFrame<T>, live: boolean, skip?: (r: T) => boolean) {
    this.#conn = conn;
    this.#wire = wire;
    this.#credit = credit;
    this.#decode = decode;
    this.#live = live;
    this.#skip = skip;
  }

  /** Called with the end frame's highest seq_nr when the stream ends normally. */
  protected ended(_highest: SeqNr | null): void {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterated) throw new Error(`a ${this.constructor.name} can be iterated only once; call ${this.#wire.op}() again`);
    this.#iterated = true;
    return {
      // Calls are served one after the other, as for-await makes them, even if a caller does not wait.
      next: () => {
        const result = this.#chain.then(() => this.#next());
        this.#chain = result.catch(() => undefined);
        return result;
      },
      return: () => this.#return(),
      throw: (err?: unknown) => this.#return().then(() => Promise.reject(err)),
    };
  }

  async #start(): Promise<void> {
    this.#state = 'open';
    const local = this.#conn.localDeadlineMs(this.#wire['timeout_ms']);
    const prepared = this.#conn.prepare(this.#wire);
    await this.#conn.acquire(local, this.#wire.op);
    const handler: Handler = {
      onFrame: (b) => this.#onFrame(b),
      onBadFrame: (err) => this.#onBadFrame(err),
      onClose: (err) => this.#onClose(err),
    };
    if (this.#state !== 'open') {
      // return() came while waiting for the slot (for-await never does that).
      this.#conn.releaseSlot();
      return;
    }
    this.#conn.send(prepared, handler);
    this.#id = prepared.id;
  }

  async #next(): Promise<IteratorResult<T>> {
    if (this.#state === 'new') {
      try {
        await this.#start();
      } catch (err) {
        this.#state = 'done';
        throw err;
      }
    }
    for (;;) {
      if (this.#head < this.#queue.length) {
        const value = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as T;
        if (this.#head === this.#queue.length) {
          this.#queue = [];
          this.#head = 0;
        }
        this.#took();
        if (this.#skip?.(value)) continue;
        return { value, done: false };
      }
      if (this.#state === 'done') return { value: undefined, done: true };
      if (this.#outcome) {
        this.#state = 'done';
        if ('error' in this.#outcome) throw this.#outcome.error;
        this.ended(this.#outcome.highest);
        return { value: undefined, done: true };
      }
      await this.#wait();
    }
  }

  // Waits for a frame; past the client's deadline the stream fails with TimeoutError. The deadline
  // only runs here, while the consumer waits on the sidecar, never while the sidecar waits for credit.
  #wait(): Promise<void> {
    const ms = this.#conn.localDeadlineMs(this.#wire['timeout_ms']);
    return new Promise<void>((resolve) => {
      const timer = this.#live
        ? undefined
        : setTimeout(() => {
            this.#fail(localTimeout(this.#wire.op, ms));
            this.#cancel();
          }, ms);
      timer?.unref();
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #notify(): void {
    this.#wake?.();
  }

  #fail(error: unknown): void {
    if (this.#outcome) return;
    this.#outcome = { error };
    this.#notify();
  }

  // Grants credit for the events taken, in steps of half the buffer.
  #took(): void {
    this.#consumed++;
    if (this.#final || this.#outcome) return;
    if (this.#consumed >= Math.max(1, Math.floor(this.#credit / 2))) {
      this.#conn.sendControl(this.#id, toWire({ op: 'credit', n: this.#consumed }));
      this.#consumed = 0;
    }
  }

  #cancel(): void {
    if (this.#final || this.#id === 0) return;
    this.#conn.sendControl(this.#id, toWire({ op: 'cancel' }));
  }

  #onFrame(b: Body): boolean {
    const final = 'error' in b || b['end'] === true;
    if (final) this.#final = true;
    if (this.#state === 'done' || this.#outcome) return final; // cancelled: drop
    try {
      const err = replyError(b);
      if (err) {
        this.#fail(err);
        return true;
      }
      const f = this.#decode(b);
      if (f.kind === 'end') {
        this.#outcome = { highest: f.highestSeqNr };
        this.#notify();
      } else {
        for (const e of f.events as T[]) this.#queue.push(e);
        this.#notify();
      }
    } catch (err) {
      this.#fail(err);
      this.#cancel();
    }
    return final;
  }

  #onBadFrame(err: BadReplyError): boolean {
    this.#fail(err);
    this.#cancel();
    return false; // the stream's final frame is still to come
  }

  #onClose(err: ConnectionError): void {
    this.#final = true;
    this.#fail(err);
  }

  async #return(): Promise<IteratorResult<T>> {
    if (this.#state === 'open') this.#cancel();
    this.#state = 'done';
    this.#queue = [];
    this.#head = 0;
    this.#wake?.();
    return { value: undefined, done: true };
  }
}

/**
 * The events of one read, in seq_nr order, as an `AsyncIterable`. Iterate it once with `for await`.
 *
 * - Nothing is sent until the iteration starts.
 * - The sidecar sends at most `bufferSize` events ahead of the consumer: the client grants more credit
 *   as events are taken (each time half of the buffer has been consumed).
 * - Leaving the loop early (`break`, `return`, a thrown error) cancels the read on the sidecar.
 * - After the loop has run to its end, {@link highestSeqNr} holds the journal's highest seq_nr as of
 *   the read, whatever `from`, `to` and `max` were: what {@link Journal.pointer} would have answered.
 *
 * ```ts
 * const events = journal.read({ from: 1 });
 * for await (const e of events) apply(e);
 * const next = events.highestSeqNr; // null when the journal has no events
 * ```
 */
export class ReadStream extends EventStream<EventRecord> {
  #highest: SeqNr | null | undefined;

  /** @internal Use {@link Journal.read}. */
  constructor(conn: Connection, wire: WireRequest, credit: number) {
    super(conn, wire, credit, decodeReadFrame, false);
  }

  /**
   * The journal's highest seq_nr as of the read (from the stream's end frame), `null` when the journal
   * has no events; `undefined` until the iteration has run to its end.
   */
  get highestSeqNr(): SeqNr | null | undefined {
    return this.#highest;
  }

  protected override ended(highest: SeqNr | null): void {
    this.#highest = highest;
  }
}

/**
 * A live subscription, as an `AsyncIterable` that never ends by itself: {@link Journal.subscribe} (the
 * journal's events, caught up then followed) or {@link Client.subscribeAll} (every event of a topic,
 * with its journal and position). Paced by credit like a read; leaving the loop (`break`, `return`, a
 * thrown error) cancels it. It ends only with an error: `JournalPurgedError` when the subscribed journal
 * is purged, `ShuttingDownError` when the sidecar stops, a `ConnectionError`. To survive a sidecar
 * restart, keep what was applied (the last seq_nr, or each partition's {@link Position}) and subscribe
 * again from there.
 *
 * ```ts
 * for await (const e of journal.subscribe({ from: next })) { apply(e); next = BigInt(e.seqNr) + 1n; }
 * ```
 */
export class Subscription<T> extends EventStream<T> {
  /** @internal Use {@link Journal.subscribe} or {@link Client.subscribeAll}. */
  constructor(conn: Connection, wire: WireRequest, credit: number, decode: (b: Body) => SubscriptionFrame<T>, skip?: (r: T) => boolean) {
    super(conn, wire, credit, decode, true, skip);
  }
}
