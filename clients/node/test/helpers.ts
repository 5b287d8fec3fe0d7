// Shared by the tests: the repository's protocol files, the vectors' JSON notation, the sidecar.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { connect, type Client, type ConnectOptions } from '../src/index.js';

/** The repository root: the first parent of this file with protocol/codes.json. */
export const REPO_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'protocol', 'codes.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('protocol/codes.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
})();

/** This package's directory. */
export const PACKAGE_ROOT = join(REPO_ROOT, 'clients', 'node');

export function readRepoJson<T = unknown>(...path: string[]): T {
  return JSON.parse(readFileSync(join(REPO_ROOT, ...path), 'utf8')) as T;
}

export interface Vector {
  name: string;
  direction: 'request' | 'reply';
  op: string;
  canonical: boolean;
  note?: string;
  hex: string;
  canonical_hex?: string;
  decoded: Record<string, unknown>;
}
export interface InvalidRequest {
  name: string;
  note?: string;
  hex: string;
  code: number;
  code_name: string;
  reply_id: number;
}
export interface InvalidFrame {
  name: string;
  note?: string;
  hex: string;
  max_frame_bytes: number;
  code?: number;
  code_name?: string;
  closes: boolean;
}
export interface Vectors {
  vectors: Vector[];
  invalid_requests: InvalidRequest[];
  invalid_frames: InvalidFrame[];
}

export const VECTORS = readRepoJson<Vectors>('protocol', 'testdata', 'vectors.json');

export function hex(s: string): Buffer {
  return Buffer.from(s, 'hex');
}

/** A frame's body: the bytes after the 4-byte length prefix. */
export function body(frameHex: string): Buffer {
  return hex(frameHex).subarray(4);
}

/**
 * The vectors' notation as JavaScript values: {"$bin": b64} → Uint8Array, {"$int": dec} → bigint,
 * {"$float": x} → number; other integers are numbers already.
 */
export function fromNotation(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromNotation);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$bin') return Buffer.from(o['$bin'] as string, 'base64');
    if (keys.length === 1 && keys[0] === '$int') return BigInt(o['$int'] as string);
    if (keys.length === 1 && keys[0] === '$float') return o['$float'] as number;
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromNotation(o[k]);
    return out;
  }
  return v;
}

/**
 * A structure that deepStrictEqual compares with map key order: every object becomes
 * {$map: [[key, value], ...]}; Uint8Array becomes {$bin: hex}.
 */
export function ordered(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(ordered);
  if (typeof v === 'object' && v !== null) return { $map: Object.entries(v).map(([k, e]) => [k, ordered(e)]) };
  return v;
}

/** snake_case → camelCase. */
export function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export const SOCKET_ENV = 'KJOURNAL_SOCKET';

/**
 * The `skip` option of the suites that need a sidecar: false when KJOURNAL_SOCKET is set, else a
 * message naming it.
 */
export const NEEDS_SIDECAR: false | string = process.env[SOCKET_ENV]
  ? false
  : `${SOCKET_ENV} is not set: no sidecar to test against (make test sets it)`;

/** The sidecar's socket path (only called by suites skipped without it). */
export function socketPath(): string {
  const path = process.env[SOCKET_ENV];
  if (!path) throw new Error(`${SOCKET_ENV} is not set`);
  return path;
}

/** A client for the test, closed when the test ends. */
export async function testClient(t: TestContext, options: ConnectOptions = {}): Promise<Client> {
  const client = await connect({ path: socketPath(), ...options });
  t.after(() => client.close());
  return client;
}

/** A journal id no other test uses. */
export function freshId(prefix = 'node-test'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Collects a read: its events and its highest seq_nr. */
export async function collect<T>(stream: AsyncIterable<T> & { highestSeqNr: unknown }): Promise<{ events: T[]; highest: unknown }> {
  const events: T[] = [];
  for await (const e of stream) events.push(e);
  return { events, highest: stream.highestSeqNr };
}

/** Waits until cond() holds, polling; throws after ms. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
