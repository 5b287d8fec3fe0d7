// The sidecar against PROTOCOL.md and the vectors, over a bare connection: what it answers to invalid
// requests and frames, handshake rules, credit, cancel, duplicate ids.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { Code, connect } from '../src/index.js';
import { FrameReader, decodeBody, wireInt, type Body, type Request } from '../src/wire.js';
import { NEEDS_SIDECAR, VECTORS, freshId, hex, socketPath } from './helpers.js';
import { RawConn } from './raw.js';

const errorCode = (b: Record<string, unknown>) => (b['error'] as { code: number } | undefined)?.code;

describe('wire: the sidecar and the vectors', { skip: NEEDS_SIDECAR }, () => {
  test('every invalid request gets its code and reply id; the connection stays open', async (t) => {
    const c = await RawConn.ready(socketPath());
    t.after(() => c.close());
    const mismatches: string[] = [];
    for (const v of VECTORS.invalid_requests) {
      c.send(hex(v.hex));
      const reply = await c.next();
      const got = `${String(reply['id'])}/${String(errorCode(reply))}`;
      if (got !== `${v.reply_id}/${v.code}`) mismatches.push(`${v.name}: want id ${v.reply_id} code ${v.code} (${v.code_name}), got ${JSON.stringify(reply)}`);
      // Still open and in sync: a ping is answered, and nothing else was sent in between.
      c.request(999, { op: 'ping' });
      const pong = await c.next();
      if (pong['id'] !== 999) mismatches.push(`${v.name}: after it, expected the pong, got ${JSON.stringify(pong)}`);
    }
    assert.deepEqual(mismatches, []);
  });

  for (const v of VECTORS.invalid_frames) {
    test(`invalid frame ${v.name}`, async (t) => {
      const c = await RawConn.ready(socketPath());
      t.after(() => c.close());
      c.send(hex(v.hex));
      if (v.code !== undefined) {
        const reply = await c.next();
        assert.equal(reply['id'], 0);
        assert.equal(errorCode(reply), v.code);
      } else {
        c.socket.end(); // cut short: the sidecar can only close
      }
      await c.closed;
      assert.equal(await c.quiet(10), undefined);
    });
  }

  test('hello is required first; a second hello fails; both leave the connection open', async (t) => {
    const c = await RawConn.open(socketPath());
    t.after(() => c.close());
    c.request(5, { op: 'ping' });
    const early = await c.next();
    assert.equal(early['id'], 5);
    assert.equal(errorCode(early), Code.HELLO_REQUIRED);
    c.request(6, { op: 'hello', versions: [1] });
    const hello = await c.next();
    assert.equal(hello['id'], 6);
    assert.equal(hello['version'], 1);
    c.request(7, { op: 'hello', versions: [1] });
    const again = await c.next();
    assert.equal(again['id'], 7);
    assert.equal(errorCode(again), Code.DUPLICATE_HELLO);
    c.request(8, { op: 'ping' });
    assert.deepEqual(await c.next(), { id: 8 });
  });

  test('unsupported version: error with the hello id, then close', async (t) => {
    const c = await RawConn.open(socketPath());
    t.after(() => c.close());
    c.request(3, { op: 'hello', versions: [2, 99] });
    const reply = await c.next();
    assert.equal(reply['id'], 3);
    assert.equal(errorCode(reply), Code.UNSUPPORTED_VERSION);
    await c.closed;
  });

  test('credit paces a stream; cancel ends it with CANCELLED; the id is free again', async (t) => {
    const client = await connect({ path: socketPath() });
    t.after(() => client.close());
    const journal = freshId();
    await client.journal(journal).append(Array.from({ length: 5 }, (_, i) => ({ seqNr: i + 1 })));

    const c = await RawConn.ready(socketPath());
    t.after(() => c.close());
    c.request(10, { op: 'read', journal, credit: 0 });
    assert.equal(await c.quiet(300), undefined, 'no events without credit');
    c.request(10, { op: 'credit', n: 2 });
    const events: number[] = [];
    while (events.length < 2) {
      const f = await c.next();
      assert.equal(f['id'], 10);
      for (const e of f['events'] as { seq_nr: number }[]) events.push(e.seq_nr);
    }
    assert.deepEqual(events, [1, 2]);
    assert.equal(await c.quiet(200), undefined, 'no more than the credit');
    // A credit or cancel for an id that is no open stream is ignored.
    c.request(11, { op: 'credit', n: 5 });
    c.request(12, { op: 'cancel' });
    c.request(10, { op: 'cancel' });
    const end = await c.next();
    assert.equal(end['id'], 10);
    assert.equal(errorCode(end), Code.CANCELLED);
    c.request(10, { op: 'ping' });
    assert.deepEqual(await c.next(), { id: 10 });
  });

  test('the end frame needs no credit and carries the highest seq_nr', async (t) => {
    const client = await connect({ path: socketPath() });
    t.after(() => client.close());
    const journal = freshId();
    await client.journal(journal).append([{ seqNr: 1 }, { seqNr: 2 }, { seqNr: 3 }]);
    const c = await RawConn.ready(socketPath());
    t.after(() => c.close());
    c.request(20, { op: 'read', journal, credit: 2, to: 2 });
    const got: unknown[] = [];
    for (;;) {
      const f = await c.next();
      assert.equal(f['id'], 20);
      if (f['end'] === true) {
        assert.equal(f['highest_seq_nr'], 3);
        break;
      }
      got.push(...(f['events'] as { seq_nr: number }[]).map((e) => e.seq_nr));
    }
    assert.deepEqual(got, [1, 2]);
    c.request(21, { op: 'read', journal: freshId(), credit: 0 });
    assert.deepEqual(await c.next(), { id: 21, end: true, highest_seq_nr: null });
  });

  test('a duplicate id fails with DUPLICATE_ID on id 0 and leaves the stream in flight alone', async (t) => {
    const client = await connect({ path: socketPath() });
    t.after(() => client.close());
    const journal = freshId();
    await client.journal(journal).append([{ seqNr: 1 }]);
    const c = await RawConn.ready(socketPath());
    t.after(() => c.close());
    c.request(30, { op: 'read', journal, credit: 0 });
    await c.quiet(200); // let the read start
    c.request(30, { op: 'pointer', journal });
    const dup = await c.next();
    assert.equal(dup['id'], 0);
    assert.equal(errorCode(dup), Code.DUPLICATE_ID);
    c.request(30, { op: 'credit', n: 10 });
    const f = await c.next();
    assert.equal(f['id'], 30);
    assert.deepEqual((f['events'] as { seq_nr: number }[]).map((e) => e.seq_nr), [1]);
    assert.deepEqual(await c.next(), { id: 30, end: true, highest_seq_nr: 1 });
  });

  test('replies are canonical: the bytes the sidecar sends are what a canonical encoder writes', async (t) => {
    const c = await RawConn.ready(socketPath());
    t.after(() => c.close());
    const raw: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => raw.push(d));
    const journal = freshId();
    const exchange = async (id: number, r: Request | Buffer): Promise<Body[]> => {
      if (Buffer.isBuffer(r)) c.send(r);
      else c.request(id, r);
      const frames: Body[] = [];
      for (;;) {
        const f = await c.next();
        frames.push(f);
        if (r instanceof Buffer || (r as Request).op !== 'read' || f['end'] === true || 'error' in f) return frames;
      }
    };
    await exchange(2, { op: 'ping' });
    await exchange(3, { op: 'pointer', journal });
    await exchange(4, { op: 'delete', journal, to: 5 });
    await exchange(5, {
      op: 'append',
      journal,
      events: [
        { seqNr: 1, payload: { z: 1, a: [1.5, -2, 2n ** 60n, null, true, 'ü'], m: { y: {}, b: [] } }, tags: ['z', 'a'] },
        { seqNr: 2, payload: Buffer.alloc(300) },
        { seqNr: 3, payload: 'x'.repeat(40) },
        { seqNr: 4 },
      ],
      metadata: { k: 'v' },
      payloadMetadata: [1],
      headers: { b: '2', a: '1' },
      expireAfterMs: 2 ** 40,
    });
    await exchange(6, { op: 'read', journal, credit: 10 });
    await exchange(7, { op: 'delete', journal, to: 1 });
    // delete to 0, which the client would refuse: PROTOCOL.md's example error frame.
    await exchange(8, hex('0000002484a2696408a26f70a664656c657465a76a6f75726e616ca86f726465722d3432a2746f00'));
    await exchange(9, { op: 'purge', journal });
    const frames = new FrameReader().push(Buffer.concat(raw));
    assert.ok(frames.length >= 9, `${frames.length} frames: ${frames.map((f) => f.toString("hex").slice(0, 40)).join(" ")}`);
    const canonical = (v: unknown): unknown => {
      if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? wireInt(v) : v;
      if (Array.isArray(v)) return v.map(canonical);
      if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, canonical(e)]));
      return v;
    };
    for (const f of frames) {
      const again = Buffer.from(encode(canonical(decodeBody(f)), { useBigInt64: true }));
      assert.equal(f.toString('hex'), again.toString('hex'));
    }
  });
});
