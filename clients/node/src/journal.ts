import type { Connection } from './connection.js';
import { decodeDeleteReply, decodePartitionOffset, decodePointerReply, decodeSubscribeFrame, toWire } from './protocol.js';
import { ReadStream, Subscription } from './read.js';
import type { AppendOptions, CallOptions, Event, EventRecord, PartitionOffset, ReadOptions, SeqNr, SubscribeOptions } from './types.js';
import { MAX_INT31, smallIntArg } from './values.js';

/**
 * One journal: a (topic, id) pair. Cheap to create, holds no state besides its name; get one from
 * {@link Client.journal}. Every method checks its arguments first and rejects with `TypeError` or
 * `RangeError` before anything is sent; sidecar failures reject with a `KjournalError`.
 */
export class Journal {
  readonly #conn: Connection;
  /** The journal id. */
  readonly id: string;
  /** The Kafka topic, `undefined` for the sidecar's default topic. */
  readonly topic: string | undefined;

  /** @internal Use {@link Client.journal}. */
  constructor(conn: Connection, id: string, topic: string | undefined) {
    this.#conn = conn;
    this.id = id;
    this.topic = topic;
  }

  #timeout(o: CallOptions): number | undefined {
    return o.timeoutMs ?? this.#conn.opts.timeoutMs;
  }

  /**
   * Appends events atomically (one Kafka record), in strictly increasing seq_nr order. Resolves when
   * Kafka acknowledged the record, with where it is stored. The sidecar does not check seq_nrs against
   * the journal: sequencing is the writer's job.
   */
  async append(events: readonly Event[], options: AppendOptions = {}): Promise<PartitionOffset> {
    const wire = toWire({
      op: 'append',
      journal: this.id,
      topic: this.topic,
      events,
      expireAfterMs: options.expireAfterMs,
      metadata: options.metadata,
      payloadMetadata: options.payloadMetadata,
      headers: options.headers,
      timeoutMs: this.#timeout(options),
    });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, (b) => decodePartitionOffset(b, 'append reply'));
  }

  /**
   * The journal's events with `from` ≤ seq_nr ≤ `to`, at most `max`, as of the moment of the call's
   * first `next()`: every append acknowledged before then is seen. See {@link ReadStream}.
   * @throws TypeError or RangeError (synchronously) for bad options.
   */
  read(options: ReadOptions = {}): ReadStream {
    const bufferSize = options.bufferSize === undefined ? this.#conn.opts.readBufferSize : smallIntArg(options.bufferSize, 'bufferSize', 1, MAX_INT31);
    const wire = toWire({
      op: 'read',
      journal: this.id,
      topic: this.topic,
      from: options.from,
      to: options.to,
      max: options.max,
      credit: bufferSize,
      timeoutMs: this.#timeout(options),
    });
    // No more credit than the read can use.
    const max = wire['max'] as number | bigint | undefined;
    if (max !== undefined && BigInt(max) < BigInt(bufferSize)) wire['credit'] = Number(max);
    this.#conn.checkOpen();
    return new ReadStream(this.#conn, wire, wire['credit'] as number);
  }

  /**
   * Follows the journal: its events from `from` on (those already written, as a read streams them),
   * then each new one as it is appended — every event once, in seq_nr order, with no gap at the
   * switch-over. Never ends by itself; see {@link Subscription}. A delete changes nothing (what it
   * deletes was delivered already); a purge ends it with `JournalPurgedError`. `timeoutMs` bounds the
   * sidecar's own work (each catch-up read), not the wait for new events.
   * @throws TypeError or RangeError (synchronously) for bad options.
   */
  subscribe(options: SubscribeOptions = {}): Subscription<EventRecord> {
    const bufferSize = options.bufferSize === undefined ? this.#conn.opts.readBufferSize : smallIntArg(options.bufferSize, 'bufferSize', 1, MAX_INT31);
    const wire = toWire({ op: 'subscribe', journal: this.id, topic: this.topic, from: options.from, credit: bufferSize, timeoutMs: this.#timeout(options) });
    this.#conn.checkOpen();
    return new Subscription(this.#conn, wire, bufferSize, decodeSubscribeFrame);
  }

  /** The journal's last seq_nr, or `null` when it has no events. */
  async pointer(options: CallOptions = {}): Promise<SeqNr | null> {
    const wire = toWire({ op: 'pointer', journal: this.id, topic: this.topic, timeoutMs: this.#timeout(options) });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodePointerReply);
  }

  /**
   * Deletes the events with seq_nr ≤ `to` (1..2^63−1). `to` is clamped to the journal's last seq_nr,
   * so deleting to `MAX_SEQ_NR` deletes everything while the journal keeps its highest seq_nr.
   * Resolves with where the Delete action is stored, or `null` when the journal had no events.
   */
  async delete(to: SeqNr, options: CallOptions = {}): Promise<PartitionOffset | null> {
    const wire = toWire({ op: 'delete', journal: this.id, topic: this.topic, to, timeoutMs: this.#timeout(options) });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodeDeleteReply);
  }

  /** Removes the journal completely: the next append starts it anew, from any seq_nr. */
  async purge(options: CallOptions = {}): Promise<PartitionOffset> {
    const wire = toWire({ op: 'purge', journal: this.id, topic: this.topic, timeoutMs: this.#timeout(options) });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, (b) => decodePartitionOffset(b, 'purge reply'));
  }
}
