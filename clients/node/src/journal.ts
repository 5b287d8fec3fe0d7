import type { Connection } from './connection.js';
import {
  decodeDeleteReply,
  decodeDeleteSnapshotsReply,
  decodeLoadSnapshotReply,
  decodePartitionOffset,
  decodePointerReply,
  decodeSaveSnapshotReply,
  decodeSubscribeFrame,
  toWire,
} from './protocol.js';
import { ReadStream, Subscription } from './read.js';
import type {
  AppendOptions,
  CallOptions,
  Event,
  EventRecord,
  Int,
  PartitionOffset,
  Payload,
  ReadOptions,
  Recovery,
  SaveSnapshotOptions,
  SeqNr,
  Snapshot,
  SnapshotCriteria,
  SubscribeOptions,
} from './types.js';
import { fromWireInt, MAX_INT31, MAX_SEQ_NR, smallIntArg } from './values.js';

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
   * Kafka acknowledged the record, with where it is stored. Without `expectedSeqNr` the sidecar does
   * not check seq_nrs against the journal: sequencing is the writer's job.
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
      expectedSeqNr: options.expectedSeqNr,
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

  /**
   * Saves a snapshot of the journal's state after the events up to `seqNr`, replacing one with the same
   * seq_nr; the sidecar keeps the latest 10. The payload is typed as an event's. Resolves with the stored
   * timestamp (ms since the epoch).
   */
  async saveSnapshot(seqNr: SeqNr, payload?: Payload, options: SaveSnapshotOptions = {}): Promise<Int> {
    const wire = toWire({
      op: 'save_snapshot',
      journal: this.id,
      topic: this.topic,
      seqNr,
      payload,
      payloadType: options.payloadType,
      metadata: options.metadata,
      timestamp: options.timestamp,
      timeoutMs: this.#timeout(options),
    });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodeSaveSnapshotReply);
  }

  /** The selected snapshot with the highest seq_nr, or `null`. */
  async loadSnapshot(criteria: SnapshotCriteria & CallOptions = {}): Promise<Snapshot | null> {
    const wire = toWire({ ...criteria, op: 'load_snapshot', journal: this.id, topic: this.topic, timeoutMs: this.#timeout(criteria) });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodeLoadSnapshotReply);
  }

  /**
   * Deletes the selected snapshots (only the one with `seqNr`, when given, whatever its timestamp);
   * resolves with how many were deleted.
   */
  async deleteSnapshots(criteria: SnapshotCriteria & CallOptions & { seqNr?: SeqNr | undefined } = {}): Promise<number> {
    const wire = toWire({ ...criteria, op: 'delete_snapshots', journal: this.id, topic: this.topic, timeoutMs: this.#timeout(criteria) });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodeDeleteSnapshotsReply);
  }

  /**
   * Loads the latest snapshot (with seq_nr ≤ `to`, taken at or before `maxTimestamp`) and reads the
   * events after it, up to `to`: what a recovering writer needs, in two requests.
   */
  async recover(options: CallOptions & { to?: SeqNr | undefined; maxTimestamp?: Int | undefined } = {}): Promise<Recovery> {
    const snapshot = await this.loadSnapshot({ maxSeqNr: options.to, maxTimestamp: options.maxTimestamp, timeoutMs: options.timeoutMs });
    const from = snapshot === null ? 1n : BigInt(snapshot.seqNr) + 1n;
    const read =
      from > MAX_SEQ_NR
        ? this.read({ from: MAX_SEQ_NR, to: MAX_SEQ_NR - 1n, timeoutMs: options.timeoutMs })
        : this.read({ from: fromWireInt(from), to: options.to, timeoutMs: options.timeoutMs });
    const events: EventRecord[] = [];
    for await (const e of read) events.push(e);
    return { snapshot, events, highestSeqNr: read.highestSeqNr ?? null };
  }
}
