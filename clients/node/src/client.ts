import { Connection } from './connection.js';
import type { ConnectionError } from './errors.js';
import { Journal } from './journal.js';
import { resolveOptions, type ConnectOptions } from './options.js';
import { decodePingReply, decodeSubscribeAllFrame, toWire } from './protocol.js';
import { Subscription } from './read.js';
import type { CallOptions, JournalOptions, Position, ServerInfo, SubscribeAllOptions, TopicEventRecord } from './types.js';
import { MAX_INT31, smallIntArg, stringArg, topicArg } from './values.js';

/**
 * Connects to the sidecar and says hello. Resolves when the sidecar answered the hello.
 *
 * @throws ConnectionError when the socket cannot be reached or closes (`cause` tells why), or the
 *   sidecar's error: `TooManyConnectionsError` (retryable), `UnsupportedVersionError`.
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  const conn = await Connection.open(resolveOptions(options));
  return new Client(conn);
}

/**
 * A connection to the sidecar. Requests from any number of concurrent callers are multiplexed on it;
 * beyond the sidecar's `maxInFlight` they wait for their turn. Close it with {@link close}, or let
 * `await using` do it.
 */
export class Client implements AsyncDisposable {
  readonly #conn: Connection;

  /** @internal Use {@link connect}. */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** What the sidecar announced in its hello reply. */
  get serverInfo(): ServerInfo {
    return this.#conn.info!;
  }

  /** Whether the connection is closed (by {@link close} or lost). */
  get isClosed(): boolean {
    return this.#conn.isClosed;
  }

  /** How many requests, open read streams included, are in flight on the connection. */
  get inFlight(): number {
    return this.#conn.requestsInFlight;
  }

  /**
   * A journal handle. Nothing is sent.
   * @param id the journal id, a non-empty string
   * @throws TypeError or RangeError for an empty id or an illegal topic name
   */
  journal(id: string, options: JournalOptions = {}): Journal {
    const journalId = stringArg(id, 'journal id', true);
    const topic = options.topic === undefined || options.topic === null ? undefined : topicArg(options.topic);
    return new Journal(this.#conn, journalId, topic);
  }

  /**
   * Follows every event of a topic, partition by partition in offset order, for projections: each a
   * {@link TopicEventRecord} (the journal and the record; `positionOf(r)` is what to store). Partitions
   * with a stored position in `after` resume right after it; the others start at `start`: `'earliest'`
   * (the oldest record Kafka still holds, the default) or `'latest'`. Never ends by itself; see
   * {@link Subscription}.
   * @throws TypeError or RangeError (synchronously) for bad options.
   */
  subscribeAll(options: SubscribeAllOptions = {}): Subscription<TopicEventRecord> {
    const bufferSize = options.bufferSize === undefined ? this.#conn.opts.readBufferSize : smallIntArg(options.bufferSize, 'bufferSize', 1, MAX_INT31);
    const last = new Map<number, Position>();
    for (const p of options.after ?? []) last.set(p.partition, p);
    const wire = toWire({
      op: 'subscribe_all',
      topic: options.topic,
      from: options.start,
      offsets: [...last.values()].sort((a, b) => a.partition - b.partition).map((p) => ({ partition: p.partition, offset: p.offset })),
      credit: bufferSize,
      timeoutMs: options.timeoutMs ?? this.#conn.opts.timeoutMs,
    });
    this.#conn.checkOpen();
    // Events of a stored position's record up to its seq_nr were applied already.
    const applied = (r: TopicEventRecord): boolean => {
      const p = last.get(r.partition);
      return p !== undefined && BigInt(r.offset) === BigInt(p.offset) && BigInt(r.seqNr) <= BigInt(p.seqNr);
    };
    return new Subscription(this.#conn, wire, bufferSize, decodeSubscribeAllFrame, applied);
  }

  /** Checks that the connection and the sidecar are alive. Touches no backend. */
  async ping(options: CallOptions = {}): Promise<void> {
    const wire = toWire({ op: 'ping', timeoutMs: options.timeoutMs ?? this.#conn.opts.timeoutMs });
    this.#conn.checkOpen();
    return this.#conn.call(wire, undefined, decodePingReply);
  }

  /**
   * Closes the connection. Requests still in flight fail with `ConnectionError`: their outcome is
   * unknown (an append may have been written). Resolves when the socket is closed; safe to call twice.
   */
  close(): Promise<void> {
    return this.#conn.close();
  }

  /**
   * Resolves when the connection has ended: with `undefined` after {@link close}, or with the
   * `ConnectionError` that ended it (`cause` tells why). Never rejects.
   */
  closed(): Promise<ConnectionError | undefined> {
    return this.#conn.closed;
  }

  /** Closes the connection: `await using client = await connect()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
