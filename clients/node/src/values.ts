/**
 * Argument checks and the conversions between JavaScript values and the protocol's values.
 *
 * Outgoing: every value is checked before anything is sent (`TypeError` for a wrong type, `RangeError`
 * for a value out of its range) and put in the form that `@msgpack/msgpack` encodes canonically
 * (PROTOCOL.md, "Canonical encoding"): integers within int32/uint32 as `number`, larger ones as
 * `bigint` (with `useBigInt64` the encoder writes a `number` above 2^32 as a float, and a `bigint` always
 * as a 64-bit integer); map keys of JSON values and headers, and tags, sorted by their UTF-8 bytes.
 *
 * Incoming: 64-bit integers within `Number.MAX_SAFE_INTEGER` become `number`, larger ones stay `bigint`.
 *
 * @module
 */
import type { JsonValue, Payload, PayloadType, SeqNr } from './types.js';

/** The largest seq_nr, 2^63−1. */
export const MAX_SEQ_NR = 2n ** 63n - 1n;
/** The largest `timeout_ms`, `credit` and `n`: 2^31−1. */
export const MAX_INT31 = 2 ** 31 - 1;
/** The deepest nesting of arrays and maps in a JSON value. */
export const MAX_JSON_DEPTH = 128;

const MIN_INT64 = -(2n ** 63n);
const MAX_UINT64 = 2n ** 64n - 1n;
const LONE_SURROGATE = /\p{Surrogate}/u;
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** An integer in the form the encoder writes with the smallest encoding. */
export function wireInt(v: number | bigint): number | bigint {
  if (typeof v === 'number') return v >= -0x8000_0000 && v <= 0xffff_ffff ? v : BigInt(v);
  return v >= -0x8000_0000n && v <= 0xffff_ffffn ? Number(v) : v;
}

/** A decoded integer as the client returns it: `number` when safe, else `bigint`. */
export function fromWireInt(v: number | bigint): number | bigint {
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
  if (typeof v === 'string') return `a string`;
  if (typeof v === 'bigint') return `${v}n`;
  return `${typeof v} ${String(v)}`;
}

/**
 * An integer argument in lo..hi: a safe-integer `number` or a `bigint`. Returns it in wire form.
 * @throws TypeError if it is neither; RangeError if it is not an integer, not safe, or out of range.
 */
export function intArg(v: unknown, name: string, lo: bigint, hi: bigint): number | bigint {
  let b: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RangeError(`${name}: must be an integer, got ${v}`);
    if (!Number.isSafeInteger(v)) throw new RangeError(`${name}: ${v} is beyond Number.MAX_SAFE_INTEGER; pass a bigint`);
    b = BigInt(v);
  } else if (typeof v === 'bigint') {
    b = v;
  } else {
    throw new TypeError(`${name}: must be a number or a bigint, got ${describe(v)}`);
  }
  if (b < lo || b > hi) throw new RangeError(`${name}: must be ${lo}..${hi}, got ${b}`);
  return wireInt(v);
}

/** A seq_nr argument, 1..2^63−1. */
export function seqNrArg(v: unknown, name: string): number | bigint {
  return intArg(v, name, 1n, MAX_SEQ_NR);
}

/** A `number` argument in lo..hi, with hi at most 2^32−1 (so that a `number` is its wire form). */
export function smallIntArg(v: unknown, name: string, lo: number, hi: number): number {
  if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(`${name}: must be a number, got ${describe(v)}`);
  return Number(intArg(v, name, BigInt(lo), BigInt(hi)));
}

/** A string argument that is valid UTF-8 once encoded (no lone surrogates). */
export function stringArg(v: unknown, name: string, nonEmpty = false): string {
  if (typeof v !== 'string') throw new TypeError(`${name}: must be a string, got ${describe(v)}`);
  if (nonEmpty && v.length === 0) throw new RangeError(`${name}: must not be empty`);
  if (LONE_SURROGATE.test(v)) throw new RangeError(`${name}: is not well-formed Unicode (lone surrogate)`);
  return v;
}

/** A legal Kafka topic name: 1..249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`. */
export function topicArg(v: unknown): string {
  const t = stringArg(v, 'topic');
  if (!TOPIC.test(t) || t === '.' || t === '..') throw new RangeError(`topic: ${JSON.stringify(t)} is not a legal Kafka topic name`);
  return t;
}

/** Orders strings by their UTF-8 bytes (code points), as canonical maps and tags are sorted. */
export function compareUtf8(a: string, b: string): number {
  // UTF-16 order equals code point order unless a surrogate meets a code unit in U+E000..U+FFFF.
  if (/[\ud800-\uffff]/.test(a) || /[\ud800-\uffff]/.test(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A JSON value argument, copied in wire form: integers as {@link wireInt}, object keys sorted,
 * `undefined` object properties dropped (as `JSON.stringify` does).
 * @throws TypeError for what JSON cannot hold (bytes, `undefined` in arrays, functions, class
 *   instances, Maps); RangeError for NaN, ±Infinity, integers beyond −2^63..2^64−1 given as bigint,
 *   or more than 128 nested arrays and objects.
 */
export function jsonArg(v: unknown, name: string, depth = 0): unknown {
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'string':
      return stringArg(v, name);
    case 'number':
      if (!Number.isFinite(v)) throw new RangeError(`${name}: ${v} is not a JSON number`);
      if (!Number.isInteger(v)) return v;
      if (Number.isSafeInteger(v)) return wireInt(v);
      // An integral double beyond 2^53 is exact: send it as the integer it is when int64/uint64 holds it.
      return v >= -(2 ** 63) && v < 2 ** 64 ? BigInt(v) : v;
    case 'bigint':
      if (v < MIN_INT64 || v > MAX_UINT64) throw new RangeError(`${name}: ${v}n is outside -2^63..2^64-1`);
      return wireInt(v);
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_JSON_DEPTH) throw new RangeError(`${name}: more than ${MAX_JSON_DEPTH} nested arrays and objects`);
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          if (e === undefined) throw new TypeError(`${name}[${i}]: undefined is not a JSON value`);
          out[i] = jsonArg(e, `${name}[${i}]`, depth + 1);
        }
        return out;
      }
      if (ArrayBuffer.isView(v)) throw new TypeError(`${name}: bytes are not allowed inside a JSON value`);
      if (!isPlainObject(v)) throw new TypeError(`${name}: ${describe(v)} is not a JSON value (use a plain object)`);
      const keys = Object.keys(v).sort(compareUtf8);
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const e = v[k];
        if (e === undefined) continue;
        stringArg(k, `${name} key`);
        const value = jsonArg(e, `${name}.${k}`, depth + 1);
        // defineProperty: a "__proto__" key must become a key, not the prototype.
        Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      throw new TypeError(`${name}: ${describe(v)} is not a JSON value`);
  }
}

/** Kafka headers (`Record` or `Map` of string to string), copied with sorted keys. */
export function headersArg(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null) throw new TypeError(`headers: must be an object or a Map, got ${describe(v)}`);
  let entries: [unknown, unknown][];
  if (v instanceof Map) entries = [...(v as Map<unknown, unknown>)];
  else if (isPlainObject(v)) entries = Object.entries(v);
  else throw new TypeError(`headers: must be a plain object or a Map, got ${describe(v)}`);
  for (const [k, e] of entries) {
    stringArg(k, 'headers key');
    stringArg(e, `headers[${JSON.stringify(k)}]`);
  }
  const checked = entries as [string, string][];
  checked.sort(([a], [b]) => compareUtf8(a, b));
  const out: Record<string, string> = {};
  for (const [k, e] of checked) Object.defineProperty(out, k, { value: e, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Tags: any iterable of strings (not a string itself), as a sorted array without duplicates. */
export function tagsArg(v: unknown, name: string): string[] {
  if (typeof v === 'string' || typeof v !== 'object' || v === null || !(Symbol.iterator in v)) {
    throw new TypeError(`${name}: must be an iterable of strings (an array or a Set), got ${describe(v)}`);
  }
  const set = new Set<string>();
  for (const t of v as Iterable<unknown>) set.add(stringArg(t, `${name} element`));
  return [...set].sort(compareUtf8);
}

/**
 * The payload of an event and its kind, per PROTOCOL.md "Payloads"; undefined when there is none.
 */
export function payloadArg(payload: unknown, payloadType: unknown, name: string): [unknown, PayloadType] | undefined {
  if (payloadType !== undefined && payloadType !== null && payloadType !== 'binary' && payloadType !== 'text' && payloadType !== 'json') {
    throw new RangeError(`${name}.payloadType: must be 'binary', 'text' or 'json', got ${describe(payloadType)}`);
  }
  const type = payloadType ?? undefined;
  if (payload === undefined || payload === null) {
    if (type === undefined) return undefined;
    if (type === 'json') return [null, 'json'];
    throw new TypeError(`${name}.payload: payloadType '${type}' needs a payload`);
  }
  if (payload instanceof Uint8Array) {
    if (type !== undefined && type !== 'binary') throw new TypeError(`${name}.payload: bytes cannot be payloadType '${type}'`);
    return [payload, 'binary'];
  }
  if (typeof payload === 'string') {
    if (type === 'binary') throw new TypeError(`${name}.payload: a string cannot be payloadType 'binary' (pass a Uint8Array)`);
    return [stringArg(payload, `${name}.payload`), type ?? 'text'];
  }
  if (ArrayBuffer.isView(payload) || payload instanceof ArrayBuffer) {
    throw new TypeError(`${name}.payload: binary payloads must be a Uint8Array or a Buffer`);
  }
  if (type !== undefined && type !== 'json') throw new TypeError(`${name}.payload: ${describe(payload)} cannot be payloadType '${type}'`);
  return [jsonArg(payload, `${name}.payload`), 'json'];
}

/** A decoded JSON value with its safe 64-bit integers turned into numbers (in place). */
export function fromWireJson(v: unknown): JsonValue {
  if (typeof v === 'bigint') return fromWireInt(v);
  if (typeof v === 'object' && v !== null) {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = fromWireJson(v[i]);
    } else if (!ArrayBuffer.isView(v)) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = fromWireJson(o[k]);
    }
  }
  return v as JsonValue;
}

export type { JsonValue, Payload, PayloadType, SeqNr };
