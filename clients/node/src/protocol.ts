/**
 * The sidecar protocol, version 1 (protocol/PROTOCOL.md), without any I/O: requests to frame bytes,
 * frame bodies to replies. The client in `client.ts` drives it over a socket; it is exported as
 * `kjournal/protocol` for tests and tools.
 *
 * Requests are checked when they are built ({@link toWire}): a wrong argument throws `TypeError` or
 * `RangeError` before anything is sent. They are encoded canonically (PROTOCOL.md, "Canonical
 * encoding"), except that JavaScript objects list integer-like keys ("1", "42") first, so a JSON object
 * or headers with such keys is sent in that order rather than sorted (valid, not canonical).
 *
 * Replies are checked against the tables of PROTOCOL.md: a missing or mistyped key is a
 * {@link BadReplyError}; unknown keys are ignored.
 *
 * @module
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { CODES, ERROR_CLASSES, FAMILIES } from './codes.js';
import { BadReplyError, SidecarError } from './errors.js';
import { frame } from './frame.js';
import type {
  AppendOptions,
  Event,
  EventRecord,
  Int,
  JsonValue,
  PartitionOffset,
  Payload,
  SaveSnapshotOptions,
  SeqNr,
  ServerInfo,
  Snapshot,
  SnapshotCriteria,
  TopicEventRecord,
} from './types.js';
import {
  MAX_INT31,
  MAX_SEQ_NR,
  fromWireInt,
  wireInt,
  fromWireJson,
  headersArg,
  intArg,
  jsonArg,
  payloadArg,
  seqNrArg,
  smallIntArg,
  stringArg,
  tagsArg,
  topicArg,
} from './values.js';

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;
/** The largest request id, 2^53−1. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

/** Fields every journal request has. */
interface JournalRequest {
  journal: string;
  topic?: string | undefined;
  timeoutMs?: number | undefined;
}

export interface HelloRequest {
  op: 'hello';
  versions: readonly number[];
  client?: string | undefined;
  timeoutMs?: number | undefined;
}
export interface AppendRequest extends JournalRequest, AppendOptions {
  op: 'append';
  events: readonly Event[];
}
export interface ReadRequest extends JournalRequest {
  op: 'read';
  from?: SeqNr | undefined;
  to?: SeqNr | undefined;
  max?: SeqNr | undefined;
  credit: number;
}
export interface CreditRequest {
  op: 'credit';
  n: number;
}
export interface CancelRequest {
  op: 'cancel';
}
export interface PointerRequest extends JournalRequest {
  op: 'pointer';
}
export interface DeleteRequest extends JournalRequest {
  op: 'delete';
  to: SeqNr;
}
export interface PurgeRequest extends JournalRequest {
  op: 'purge';
}
export interface PingRequest {
  op: 'ping';
  timeoutMs?: number | undefined;
}
export interface SaveSnapshotRequest extends JournalRequest, SaveSnapshotOptions {
  op: 'save_snapshot';
  seqNr: SeqNr;
  payload?: Payload | undefined;
}
export interface LoadSnapshotRequest extends JournalRequest, SnapshotCriteria {
  op: 'load_snapshot';
}
export interface DeleteSnapshotsRequest extends JournalRequest, SnapshotCriteria {
  op: 'delete_snapshots';
  seqNr?: SeqNr | undefined;
}
export interface SubscribeRequest extends JournalRequest {
  op: 'subscribe';
  from?: SeqNr | undefined;
  credit: number;
}
export interface SubscribeAllRequest {
  op: 'subscribe_all';
  topic?: string | undefined;
  /** Where partitions without an explicit offset start: `'earliest'` (the default) or `'latest'`. */
  from?: 'earliest' | 'latest' | undefined;
  /** The first offset to deliver of each partition listed. */
  offsets?: readonly { partition: number; offset: Int }[] | undefined;
  credit: number;
  timeoutMs?: number | undefined;
}
/** A request, in the client's terms. */
export type Request =
  | HelloRequest
  | AppendRequest
  | ReadRequest
  | CreditRequest
  | CancelRequest
  | PointerRequest
  | DeleteRequest
  | PurgeRequest
  | PingRequest
  | SaveSnapshotRequest
  | LoadSnapshotRequest
  | DeleteSnapshotsRequest
  | SubscribeRequest
  | SubscribeAllRequest;

/** A checked request in wire form: a map with the keys of PROTOCOL.md in table order, `id` first. */
export interface WireRequest {
  id: number | bigint;
  op: Request['op'];
  [key: string]: unknown;
}

/** A frame body as decoded: a map with string keys. */
export type Body = Record<string, unknown>;

// Table order: id, op, journal, topic, then the op's own fields, timeout_ms last.
function journalFields(w: WireRequest, r: JournalRequest): void {
  w['journal'] = stringArg(r.journal, 'journal', true);
  if (r.topic !== undefined && r.topic !== null) w['topic'] = topicArg(r.topic);
}

function timeout(w: WireRequest, t: unknown): void {
  if (t !== undefined && t !== null) w['timeout_ms'] = smallIntArg(t, 'timeoutMs', 1, MAX_INT31);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Snapshot criteria, each bound omitted when absent or equal to its default (the canonical form).
function criteriaFields(w: WireRequest, c: SnapshotCriteria): void {
  const bounds: [string, unknown, string, bigint, bigint, bigint][] = [
    ['max_seq_nr', c.maxSeqNr, 'maxSeqNr', 0n, MAX_SEQ_NR, MAX_SEQ_NR],
    ['max_timestamp', c.maxTimestamp, 'maxTimestamp', INT64_MIN, INT64_MAX, INT64_MAX],
    ['min_seq_nr', c.minSeqNr, 'minSeqNr', 0n, MAX_SEQ_NR, 0n],
    ['min_timestamp', c.minTimestamp, 'minTimestamp', INT64_MIN, INT64_MAX, INT64_MIN],
  ];
  for (const [key, v, name, lo, hi, def] of bounds) {
    if (v === undefined || v === null) continue;
    const x = intArg(v, name, lo, hi);
    if (BigInt(x) !== def) w[key] = x;
  }
}

function eventsField(events: unknown): unknown[] {
  if (!Array.isArray(events)) throw new TypeError(`events: must be an array of events`);
  if (events.length === 0) throw new RangeError('events: must not be empty');
  const out: unknown[] = [];
  let prev: bigint | undefined;
  for (let i = 0; i < events.length; i++) {
    const name = `events[${i}]`;
    const e: unknown = events[i];
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new TypeError(`${name}: must be an event object`);
    const ev = e as Event;
    const seqNr = seqNrArg(ev.seqNr, `${name}.seqNr`);
    const big = BigInt(seqNr);
    if (prev !== undefined && big <= prev) {
      throw new RangeError(`${name}.seqNr: seq_nrs must strictly increase, got ${big} after ${prev}`);
    }
    prev = big;
    const w: Record<string, unknown> = { seq_nr: seqNr };
    if (ev.tags !== undefined && ev.tags !== null) {
      const tags = tagsArg(ev.tags, `${name}.tags`);
      if (tags.length > 0) w['tags'] = tags;
    }
    const p = payloadArg(ev.payload, ev.payloadType, name);
    if (p !== undefined) {
      w['payload'] = p[0];
      w['payload_type'] = p[1];
    }
    out.push(w);
  }
  return out;
}

/**
 * Checks a request and puts it in wire form, with id 0 until {@link encodeFrame} sets it.
 * @throws TypeError or RangeError for an argument the sidecar would reject.
 */
export function toWire(r: Request): WireRequest {
  if (typeof r !== 'object' || r === null) throw new TypeError('request: must be an object');
  const w: WireRequest = { id: 0, op: r.op };
  switch (r.op) {
    case 'hello': {
      if (!Array.isArray(r.versions) || r.versions.length === 0) throw new RangeError('versions: must be a non-empty array');
      w['versions'] = r.versions.map((v, i) => smallIntArg(v, `versions[${i}]`, 1, MAX_INT31));
      if (r.client !== undefined && r.client !== null) w['client'] = stringArg(r.client, 'client');
      timeout(w, r.timeoutMs);
      break;
    }
    case 'append': {
      journalFields(w, r);
      w['events'] = eventsField(r.events);
      if (r.expectedSeqNr !== undefined && r.expectedSeqNr !== null) w['expected_seq_nr'] = intArg(r.expectedSeqNr, 'expectedSeqNr', 0n, MAX_SEQ_NR);
      if (r.expireAfterMs !== undefined && r.expireAfterMs !== null) {
        // intArg keeps the wire form: a number above 2^32 must go out as a bigint to stay an integer.
        w['expire_after_ms'] = intArg(r.expireAfterMs, 'expireAfterMs', 1n, BigInt(Number.MAX_SAFE_INTEGER));
      }
      if (r.metadata !== undefined) w['metadata'] = jsonArg(r.metadata, 'metadata');
      if (r.payloadMetadata !== undefined) w['payload_metadata'] = jsonArg(r.payloadMetadata, 'payloadMetadata');
      if (r.headers !== undefined && r.headers !== null) w['headers'] = headersArg(r.headers);
      timeout(w, r.timeoutMs);
      break;
    }
    case 'read': {
      journalFields(w, r);
      if (r.from !== undefined && r.from !== null) w['from'] = seqNrArg(r.from, 'from');
      if (r.to !== undefined && r.to !== null) w['to'] = seqNrArg(r.to, 'to');
      if (r.max !== undefined && r.max !== null) w['max'] = intArg(r.max, 'max', 1n, MAX_SEQ_NR);
      w['credit'] = smallIntArg(r.credit, 'credit', 0, MAX_INT31);
      timeout(w, r.timeoutMs);
      break;
    }
    case 'credit':
      w['n'] = smallIntArg(r.n, 'n', 1, MAX_INT31);
      break;
    case 'cancel':
      break;
    case 'pointer':
    case 'purge':
      journalFields(w, r);
      timeout(w, r.timeoutMs);
      break;
    case 'delete':
      journalFields(w, r);
      w['to'] = seqNrArg(r.to, 'to');
      timeout(w, r.timeoutMs);
      break;
    case 'ping':
      timeout(w, r.timeoutMs);
      break;
    case 'save_snapshot': {
      journalFields(w, r);
      w['seq_nr'] = seqNrArg(r.seqNr, 'seqNr');
      const p = payloadArg(r.payload, r.payloadType, 'snapshot');
      if (p !== undefined) {
        w['payload'] = p[0];
        w['payload_type'] = p[1];
      }
      if (r.metadata !== undefined) w['metadata'] = jsonArg(r.metadata, 'metadata');
      if (r.timestamp !== undefined && r.timestamp !== null) w['timestamp'] = intArg(r.timestamp, 'timestamp', INT64_MIN, INT64_MAX);
      timeout(w, r.timeoutMs);
      break;
    }
    case 'load_snapshot':
      journalFields(w, r);
      criteriaFields(w, r);
      timeout(w, r.timeoutMs);
      break;
    case 'delete_snapshots':
      journalFields(w, r);
      if (r.seqNr !== undefined && r.seqNr !== null) w['seq_nr'] = seqNrArg(r.seqNr, 'seqNr');
      criteriaFields(w, r);
      timeout(w, r.timeoutMs);
      break;
    case 'subscribe':
      journalFields(w, r);
      if (r.from !== undefined && r.from !== null) w['from'] = seqNrArg(r.from, 'from');
      w['credit'] = smallIntArg(r.credit, 'credit', 0, MAX_INT31);
      timeout(w, r.timeoutMs);
      break;
    case 'subscribe_all': {
      if (r.topic !== undefined && r.topic !== null) w['topic'] = topicArg(r.topic);
      if (r.from !== undefined && r.from !== null) {
        if (r.from !== 'earliest' && r.from !== 'latest') throw new RangeError(`from: must be 'earliest' or 'latest', got ${JSON.stringify(r.from)}`);
        w['from'] = r.from;
      }
      if (r.offsets !== undefined && r.offsets !== null && !Array.isArray(r.offsets)) throw new TypeError('offsets: must be an array');
      if (r.offsets !== undefined && r.offsets !== null && r.offsets.length > 0) {
        const seen = new Set<number>();
        w['offsets'] = r.offsets.map((o, i) => {
          const partition = smallIntArg(o.partition, `offsets[${i}].partition`, 0, MAX_INT31);
          if (seen.has(partition)) throw new RangeError(`offsets[${i}].partition: partition ${partition} is listed twice`);
          seen.add(partition);
          return { partition, offset: intArg(o.offset, `offsets[${i}].offset`, 0n, MAX_SEQ_NR) };
        });
      }
      w['credit'] = smallIntArg(r.credit, 'credit', 0, MAX_INT31);
      timeout(w, r.timeoutMs);
      break;
    }
    default:
      throw new RangeError(`op: unknown op ${JSON.stringify((r as { op: unknown }).op)}`);
  }
  return w;
}

// maxDepth: a request nests 4 levels above a JSON payload, which may nest 128.
const encoder = new Encoder({ useBigInt64: true, maxDepth: 256, initialBufferSize: 4096 });

/** The frame of a wire request with the given id (1..2^53−1). */
export function encodeFrame(id: number, w: WireRequest): Buffer {
  if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`id: must be 1..2^53-1, got ${id}`);
  w.id = wireInt(id);
  return frame(encoder.encodeSharedRef(w));
}

/** Checks and encodes a request: the whole frame, length prefix included. */
export function encodeRequest(id: number, r: Request): Buffer {
  return encodeFrame(id, toWire(r));
}

function stringKey(key: unknown): string {
  if (typeof key !== 'string') throw new BadReplyError(`frame body has a map key of type ${typeof key}`);
  return key;
}

// Length claims beyond the body fail before allocating (the decoder checks the bytes left first).
const decoder = new Decoder({ useBigInt64: true, mapKeyConverter: stringKey });

/**
 * Decodes a frame body: exactly one msgpack map with string keys, nothing after it.
 * @throws BadReplyError otherwise.
 */
export function decodeBody(body: Uint8Array): Body {
  let v: unknown;
  try {
    v = decoder.decode(body);
  } catch (err) {
    if (err instanceof BadReplyError) throw err;
    throw new BadReplyError(`frame body is not valid msgpack: ${(err as Error).message}`, err);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) {
    throw new BadReplyError('frame body is not a msgpack map');
  }
  return v as Body;
}

// Reply field readers: each checks the table's type and throws BadReplyError naming the key.

function bad(what: string, key: string, v: unknown): BadReplyError {
  return new BadReplyError(`${what}: key ${key} is ${v === undefined ? 'missing' : `not valid (${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)})`}`);
}

function int(b: Body, key: string, what: string, lo: bigint, hi: bigint): Int {
  const v = b[key];
  if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint') {
    const big = BigInt(v);
    if (big >= lo && big <= hi) return fromWireInt(v);
  }
  throw bad(what, key, v);
}

function optInt(b: Body, key: string, what: string, lo: bigint, hi: bigint): Int | null {
  return b[key] === undefined || b[key] === null ? null : int(b, key, what, lo, hi);
}

function num(b: Body, key: string, what: string, lo: number, hi: number): number {
  return Number(int(b, key, what, BigInt(lo), BigInt(hi)));
}

function str(b: Body, key: string, what: string): string {
  const v = b[key];
  if (typeof v !== 'string') throw bad(what, key, v);
  return v;
}

function optStr(b: Body, key: string, what: string): string | null {
  return b[key] === undefined || b[key] === null ? null : str(b, key, what);
}

const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const PARTITION = [0n, BigInt(MAX_INT31)] as const;
const OFFSET = [0n, MAX_SEQ_NR] as const;

/** The id of a reply: 0 for a connection-level error, else the id of the request it answers. */
export function replyId(b: Body): number {
  return Number(int(b, 'id', 'reply', 0n, BigInt(MAX_ID)));
}

/** The error of an error frame (one with the key `error`), or undefined for any other frame. */
export function replyError(b: Body): SidecarError | undefined {
  if (!('error' in b)) return undefined;
  const e = b['error'];
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad('error frame', 'error', e);
  const o = e as Body;
  const code = num(o, 'code', 'error frame', 0, 999);
  const message = str(o, 'message', 'error frame');
  const retryable = o['retryable'];
  if (typeof retryable !== 'boolean') throw bad('error frame', 'error.retryable', retryable);
  const info = CODES.find((c) => c.code === code);
  const family = FAMILIES.find((f) => code >= f.range[0] && code <= f.range[1])?.family ?? 'unknown';
  const fields = { code, codeName: info?.name ?? `CODE_${code}`, family, retryable };
  const Cls = ERROR_CLASSES.get(code) ?? SidecarError;
  const err = new Cls(message, fields);
  err.highestSeqNr = optInt(o, 'highest_seq_nr', 'error frame', 0n, MAX_SEQ_NR);
  return err;
}

/** The hello reply. */
export function decodeHelloReply(b: Body): ServerInfo {
  const w = 'hello reply';
  return {
    version: num(b, 'version', w, 1, MAX_INT31),
    server: str(b, 'server', w),
    maxFrameBytes: num(b, 'max_frame_bytes', w, 1, 2 ** 32 - 1),
    maxInFlight: num(b, 'max_in_flight', w, 1, MAX_INT31),
    defaultTopic: str(b, 'default_topic', w),
    defaultTimeoutMs: num(b, 'default_timeout_ms', w, 1, MAX_INT31),
  };
}

/** The reply of append and purge: where Kafka stored the record. */
export function decodePartitionOffset(b: Body, what = 'reply'): PartitionOffset {
  return { partition: Number(int(b, 'partition', what, ...PARTITION)), offset: int(b, 'offset', what, ...OFFSET) };
}

/** The reply of delete: where Kafka stored the Delete action, or null when nothing was written. */
export function decodeDeleteReply(b: Body): PartitionOffset | null {
  const partition = optInt(b, 'partition', 'delete reply', ...PARTITION);
  const offset = optInt(b, 'offset', 'delete reply', ...OFFSET);
  if ((partition === null) !== (offset === null)) throw new BadReplyError('delete reply: partition and offset must be both set or both nil');
  return partition === null || offset === null ? null : { partition: Number(partition), offset };
}

/** The reply of pointer: the journal's last seq_nr, or null when it has no events. */
export function decodePointerReply(b: Body): SeqNr | null {
  return optInt(b, 'seq_nr', 'pointer reply', 1n, MAX_SEQ_NR);
}

/** The reply of ping (nothing but its id). */
export function decodePingReply(_b: Body): void {}

function jsonField(b: Body, key: string): JsonValue | null {
  const v = b[key];
  return v === undefined || v === null ? null : fromWireJson(v);
}

/** The `payload` and `payload_type` of a record or snapshot, checked against each other. */
function typedPayload(b: Body, what: string): Pick<EventRecord, 'payload' | 'payloadType'> {
  const payloadType = b['payload_type'] ?? null;
  const payload = b['payload'] ?? null;
  if (payloadType === 'binary' && payload instanceof Uint8Array) return { payload, payloadType };
  if (payloadType === 'text' && typeof payload === 'string') return { payload, payloadType };
  if (payloadType === 'json' && !(payload instanceof Uint8Array)) return { payload: fromWireJson(payload), payloadType };
  if (payloadType === null && payload === null) return { payload, payloadType };
  throw new BadReplyError(`${what}: payload_type ${JSON.stringify(payloadType)} does not match the payload`);
}

/** One event record of a read's events frame. */
export function decodeEventRecord(v: unknown, what = 'event record'): EventRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) throw new BadReplyError(`${what}: not a map`);
  const b = v as Body;
  const tags = b['tags'];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw bad(what, 'tags', tags);
  const headers = b['headers'];
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers) || ArrayBuffer.isView(headers)) throw bad(what, 'headers', headers);
  for (const h of Object.values(headers)) if (typeof h !== 'string') throw bad(what, 'headers', headers);
  const p = typedPayload(b, what);
  return {
    seqNr: int(b, 'seq_nr', what, 1n, MAX_SEQ_NR),
    tags: tags as string[],
    ...p,
    timestamp: int(b, 'timestamp', what, ...INT64),
    partition: Number(int(b, 'partition', what, ...PARTITION)),
    offset: int(b, 'offset', what, ...OFFSET),
    origin: optStr(b, 'origin', what),
    version: optStr(b, 'version', what),
    metadata: jsonField(b, 'metadata'),
    expireAfterMs: optInt(b, 'expire_after_ms', what, 1n, BigInt(Number.MAX_SAFE_INTEGER)) as number | null,
    payloadMetadata: jsonField(b, 'payload_metadata'),
    headers: headers as Record<string, string>,
  } as EventRecord;
}

/** The reply of save_snapshot: the stored timestamp. */
export function decodeSaveSnapshotReply(b: Body): Int {
  return int(b, 'timestamp', 'save_snapshot reply', ...INT64);
}

/** The reply of load_snapshot: the selected snapshot, or null. */
export function decodeLoadSnapshotReply(b: Body): Snapshot | null {
  const v = b['snapshot'];
  if (v === undefined || v === null) return null;
  const what = 'snapshot';
  if (typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) throw new BadReplyError(`${what}: not a map`);
  const s = v as Body;
  const p = typedPayload(s, what);
  return {
    seqNr: int(s, 'seq_nr', what, 1n, MAX_SEQ_NR),
    timestamp: int(s, 'timestamp', what, ...INT64),
    ...p,
    metadata: jsonField(s, 'metadata'),
    origin: optStr(s, 'origin', what),
    version: optStr(s, 'version', what),
  };
}

/** The reply of delete_snapshots: how many were deleted. */
export function decodeDeleteSnapshotsReply(b: Body): number {
  return Number(int(b, 'deleted', 'delete_snapshots reply', 0n, INT64_MAX));
}

/** A frame of a read stream, other than an error frame. */
export type ReadFrame = { kind: 'events'; events: EventRecord[] } | { kind: 'end'; highestSeqNr: SeqNr | null };

/** An events frame or the end frame of a read stream. */
export function decodeReadFrame(b: Body): ReadFrame {
  if (b['end'] === true) return { kind: 'end', highestSeqNr: optInt(b, 'highest_seq_nr', 'end frame', 1n, MAX_SEQ_NR) };
  const events = b['events'];
  if (!Array.isArray(events) || events.length === 0) throw new BadReplyError('read frame: neither events nor end');
  return { kind: 'events', events: events.map((e, i) => decodeEventRecord(e, `events[${i}]`)) };
}

/** An events frame of a subscription (subscribe: event records; subscribe_all: with their journal). */
export type SubscriptionFrame<T> = { kind: 'events'; events: T[] };

/** An events frame of a subscribe stream: a subscription has no end frame. */
export function decodeSubscribeFrame(b: Body): SubscriptionFrame<EventRecord> {
  return { kind: 'events', events: eventsOf(b, 'subscribe').map((e, i) => decodeEventRecord(e, `events[${i}]`)) };
}

/** An events frame of a subscribe_all stream: records with the journal they belong to. */
export function decodeSubscribeAllFrame(b: Body): SubscriptionFrame<TopicEventRecord> {
  return {
    kind: 'events',
    events: eventsOf(b, 'subscribe_all').map((e, i) => {
      const what = `events[${i}]`;
      const r = decodeEventRecord(e, what) as TopicEventRecord;
      r.journal = str(e as Body, 'journal', what);
      return r;
    }),
  };
}

function eventsOf(b: Body, op: string): unknown[] {
  const events = b['events'];
  if (!Array.isArray(events) || events.length === 0) throw new BadReplyError(`${op} frame: neither events nor error`);
  return events;
}

/** What a reply means, given the op of its request. */
export type Reply =
  | { kind: 'error'; error: SidecarError }
  | { kind: 'hello'; info: ServerInfo }
  | { kind: 'result'; result: PartitionOffset | SeqNr | Snapshot | null | undefined }
  | ReadFrame
  | SubscriptionFrame<TopicEventRecord>;

/**
 * Decodes a reply body knowing the op of its request (ops without replies, `credit` and `cancel`,
 * only ever see error frames).
 */
export function decodeReply(op: Request['op'], b: Body): Reply {
  const error = replyError(b);
  if (error !== undefined) return { kind: 'error', error };
  switch (op) {
    case 'hello':
      return { kind: 'hello', info: decodeHelloReply(b) };
    case 'append':
      return { kind: 'result', result: decodePartitionOffset(b, 'append reply') };
    case 'purge':
      return { kind: 'result', result: decodePartitionOffset(b, 'purge reply') };
    case 'delete':
      return { kind: 'result', result: decodeDeleteReply(b) };
    case 'pointer':
      return { kind: 'result', result: decodePointerReply(b) };
    case 'ping':
      return { kind: 'result', result: undefined };
    case 'save_snapshot':
      return { kind: 'result', result: decodeSaveSnapshotReply(b) };
    case 'load_snapshot':
      return { kind: 'result', result: decodeLoadSnapshotReply(b) };
    case 'delete_snapshots':
      return { kind: 'result', result: decodeDeleteSnapshotsReply(b) };
    case 'read':
      return decodeReadFrame(b);
    case 'subscribe':
      return decodeSubscribeFrame(b);
    case 'subscribe_all':
      return decodeSubscribeAllFrame(b);
    default:
      throw new BadReplyError(`unexpected reply to ${op}`);
  }
}
