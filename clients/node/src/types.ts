/**
 * The public data types.
 *
 * Integers and `bigint`: the protocol's integers are 64-bit. Values within `Number.MAX_SAFE_INTEGER`
 * come back as `number`, larger ones as `bigint`, so nothing is ever rounded. The fields that can be
 * a `bigint` are typed {@link Int} or {@link SeqNr}: seq_nrs, offsets, timestamps, and integers
 * inside JSON values (payloads, metadata). Everything else (`partition`, `expireAfterMs`, the hello
 * limits) is always a `number`. Arguments take `number` (a safe integer) or `bigint` alike.
 *
 * @module
 */

/** A 64-bit integer as the client returns it: a `number` when safe, else a `bigint`. */
export type Int = number | bigint;

/** A sequence number, 1..2^63−1: a `number` up to 2^53−1, a `bigint` above. */
export type SeqNr = number | bigint;

/**
 * A JSON value as it travels: `bigint` stands for integers beyond 2^53−1 (−2^63..2^64−1). Integral
 * numbers are sent as msgpack integers, others as float 64; so `1.0` is sent as the integer `1`.
 * Object properties that are `undefined` are left out, as `JSON.stringify` does.
 */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue | undefined };

/** The kind of an event's payload. */
export type PayloadType = 'binary' | 'text' | 'json';

/** What an event can carry: bytes (binary), a string (text), or any other JSON value (json). */
export type Payload = Uint8Array | JsonValue;

/**
 * An event to append. The kind of `payload` follows its type unless `payloadType` says otherwise:
 * `Uint8Array` (and `Buffer`) → `binary`, `string` → `text`, anything else → `json`. `undefined` or
 * `null` without a `payloadType` means no payload; `payloadType: 'json'` sends a `string` as a JSON
 * string and `null` as JSON null.
 */
export interface Event {
  seqNr: SeqNr;
  payload?: Payload | undefined;
  payloadType?: PayloadType | undefined;
  /** A set: order and duplicates do not matter. */
  tags?: Iterable<string> | undefined;
}

/** Fields of every {@link EventRecord}. */
export interface EventRecordBase {
  seqNr: SeqNr;
  /** Sorted, no duplicates. */
  tags: string[];
  /** The Kafka record's timestamp, milliseconds since the Unix epoch. */
  timestamp: Int;
  /** Kafka partition of the record that carried the event. */
  partition: number;
  /** Kafka offset of that record; events appended together share it. */
  offset: Int;
  /** Who wrote the event (usually a host name), `null` when unknown. */
  origin: string | null;
  /** The writing library's version, `null` when unknown. */
  version: string | null;
  /** The append's `metadata`, `null` when none. */
  metadata: JsonValue | null;
  /** The append's `expireAfterMs`, `null` when none. */
  expireAfterMs: number | null;
  /** The append's `payloadMetadata`, `null` when none. */
  payloadMetadata: JsonValue | null;
  /** The Kafka record headers, `{}` when none. */
  headers: Record<string, string>;
}

/**
 * An event as read back. `payloadType` tells the payload's kind: `'binary'` → `Uint8Array`,
 * `'text'` → `string`, `'json'` → a {@link JsonValue} (possibly `null` or a string), `null` → no
 * payload (`payload` is `null`).
 */
export type EventRecord = EventRecordBase &
  (
    | { payloadType: 'binary'; payload: Uint8Array }
    | { payloadType: 'text'; payload: string }
    | { payloadType: 'json'; payload: JsonValue }
    | { payloadType: null; payload: null }
  );

/** An event delivered by `subscribeAll`: an {@link EventRecord} with the journal it belongs to. */
export type TopicEventRecord = EventRecord & {
  /** The journal id. */
  journal: string;
};

/**
 * How far a projection fed by `subscribeAll` got in one partition: the partition, offset and seq_nr of
 * the last event it applied ({@link positionOf}). Store it with the projection's state and pass the
 * stored positions as `after` to resume right after that event (events appended together share an
 * offset, so the seq_nr tells how far into that record the projection got).
 */
export interface Position {
  partition: number;
  offset: Int;
  seqNr: SeqNr;
}

/** The position to store after applying `r`. */
export function positionOf(r: TopicEventRecord): Position {
  return { partition: r.partition, offset: r.offset, seqNr: r.seqNr };
}

/** Where Kafka stored an action. */
export interface PartitionOffset {
  partition: number;
  offset: Int;
}

/** What the sidecar announced in its hello reply. */
export interface ServerInfo {
  /** The protocol version in use. */
  version: number;
  /** The sidecar's name and version, e.g. `"kjournal/0.1.0"`. */
  server: string;
  /** The largest frame body the sidecar accepts and sends. */
  maxFrameBytes: number;
  /** How many requests (open read streams included) may be in flight on the connection. */
  maxInFlight: number;
  /** The topic of journals opened without `topic`. */
  defaultTopic: string;
  /** The deadline of requests sent without `timeoutMs`. */
  defaultTimeoutMs: number;
}

/** Options every operation takes. */
export interface CallOptions {
  /**
   * The request's deadline, sent to the sidecar as `timeout_ms` (1..2^31−1). Default: the client's
   * `timeoutMs`, else the sidecar's `default_timeout_ms`.
   */
  timeoutMs?: number | undefined;
}

/** Options of {@link Journal.append}. */
export interface AppendOptions extends CallOptions {
  /** Purge the journal this long after its last append (1..2^53−1 ms). Each append sets it anew; an append without it removes the expiry. */
  expireAfterMs?: number | undefined;
  /** Any JSON value, stored with the append (in the record's action header); read back as each event's `metadata`. */
  metadata?: JsonValue | undefined;
  /** Any JSON value, stored with the events; read back as each event's `payloadMetadata`. */
  payloadMetadata?: JsonValue | undefined;
  /** Kafka record headers. */
  headers?: Record<string, string> | ReadonlyMap<string, string> | undefined;
  /**
   * Append only if the journal's highest seq_nr is exactly this (0: the journal has no events); else
   * reject with `WrongExpectedSeqNrError`, whose `highestSeqNr` is the actual one. Exact among the
   * writers of one sidecar (PROTOCOL.md, "Conditional append").
   */
  expectedSeqNr?: SeqNr | undefined;
}

/**
 * Which snapshots an operation selects (Akka's SnapshotSelectionCriteria); bounds are inclusive and
 * default to the widest. Timestamps are milliseconds since the Unix epoch.
 */
export interface SnapshotCriteria {
  /** 0..2^63−1, default 2^63−1. */
  maxSeqNr?: SeqNr | undefined;
  /** Default 2^63−1. */
  maxTimestamp?: Int | undefined;
  /** 0..2^63−1, default 0. */
  minSeqNr?: SeqNr | undefined;
  /** Default −2^63. */
  minTimestamp?: Int | undefined;
}

/** Options of {@link Journal.saveSnapshot}. */
export interface SaveSnapshotOptions extends CallOptions {
  /** The payload's kind, when it cannot be inferred (a string meant as JSON). */
  payloadType?: PayloadType | undefined;
  /** Any JSON value stored with the snapshot. */
  metadata?: JsonValue | undefined;
  /** The snapshot's time, ms since the epoch; default: the sidecar's clock. */
  timestamp?: Int | undefined;
}

/** A stored snapshot, as {@link Journal.loadSnapshot} returns it. */
export interface Snapshot {
  /** The seq_nr of the last event the snapshot reflects. */
  seqNr: SeqNr;
  /** Milliseconds since the Unix epoch. */
  timestamp: Int;
  /** The state; `null` with `payloadType` `null` when saved without one. */
  payload: Payload | null;
  payloadType: PayloadType | null;
  metadata: JsonValue | null;
  /** The host of the sidecar that saved it. */
  origin: string | null;
  version: string | null;
}

/** What {@link Journal.recover} found: the latest snapshot and the events after it. */
export interface Recovery {
  /** The latest selected snapshot, `null` when there is none. */
  snapshot: Snapshot | null;
  /** The events after the snapshot's seq_nr (every event without a snapshot). */
  events: EventRecord[];
  /** The journal's last seq_nr as of the read, `null` when it has no events. */
  highestSeqNr: SeqNr | null;
}

/** Options of {@link Journal.read}. Bounds are inclusive. */
export interface ReadOptions extends CallOptions {
  /** First seq_nr, default 1. */
  from?: SeqNr | undefined;
  /** Last seq_nr, default 2^63−1. `from` > `to` is an empty read, not an error. */
  to?: SeqNr | undefined;
  /** The most events to return (≥ 1), default no limit. */
  max?: SeqNr | undefined;
  /**
   * How many events the sidecar may send ahead of the consumer (the read's credit), 1..2^31−1.
   * Default: the client's `readBufferSize` (256).
   */
  bufferSize?: number | undefined;
}

/** Options of {@link Client.journal}. */
export interface JournalOptions {
  /** The Kafka topic; default: the sidecar's default topic. */
  topic?: string | undefined;
}

/** Options of {@link Journal.subscribe}. */
export interface SubscribeOptions extends CallOptions {
  /** First seq_nr, default 1. */
  from?: SeqNr | undefined;
  /** How many events the sidecar may send ahead of the consumer; default: the client's `readBufferSize`. */
  bufferSize?: number | undefined;
}

/** Options of {@link Client.subscribeAll}. */
export interface SubscribeAllOptions extends CallOptions {
  /** The topic; default: the sidecar's default topic. */
  topic?: string | undefined;
  /** Where partitions without a stored position start: `'earliest'` (default) or `'latest'`. */
  start?: 'earliest' | 'latest' | undefined;
  /** Stored positions: each partition listed resumes right after its position. */
  after?: Iterable<Position> | undefined;
  /** How many events the sidecar may send ahead of the consumer; default: the client's `readBufferSize`. */
  bufferSize?: number | undefined;
}
