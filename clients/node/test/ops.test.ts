// Every operation against the real sidecar (KJOURNAL_SOCKET), on fresh journals.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError, MAX_SEQ_NR, RecordTooLargeError, connect, type EventRecord } from '../src/index.js';
import { NEEDS_SIDECAR, collect, freshId, socketPath, testClient } from './helpers.js';

describe('operations', { skip: NEEDS_SIDECAR }, () => {
  test('hello: serverInfo holds the limits', async (t) => {
    const c = await testClient(t);
    const info = c.serverInfo;
    assert.equal(info.version, 1);
    assert.match(info.server, /kjournal/);
    assert.ok(info.maxFrameBytes > 0 && info.maxInFlight > 0 && info.defaultTimeoutMs > 0);
    assert.equal(typeof info.defaultTopic, 'string');
  });

  test('ping', async (t) => {
    const c = await testClient(t);
    await c.ping();
    await c.ping({ timeoutMs: 100 });
  });

  test('append, read, pointer on a new journal', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    assert.equal(await j.pointer(), null);
    const po = await j.append([{ seqNr: 1, payload: { a: 1 } }, { seqNr: 2, payload: Buffer.from([0, 255]), tags: ['t', 's', 't'] }]);
    assert.equal(typeof po.partition, 'number');
    assert.ok(typeof po.offset === 'number' && po.offset >= 0);
    const { events, highest } = await collect(j.read());
    assert.equal(highest, 2);
    assert.deepEqual(
      events.map((e) => e.seqNr),
      [1, 2],
    );
    const [e1, e2] = events as [EventRecord, EventRecord];
    assert.deepEqual(e1.payload, { a: 1 });
    assert.equal(e1.payloadType, 'json');
    assert.deepEqual(e1.tags, []);
    assert.equal(e2.payloadType, 'binary');
    assert.deepEqual([...(e2.payload as Uint8Array)], [0, 255]);
    assert.deepEqual(e2.tags, ['s', 't']);
    // Appended together: one record.
    assert.equal(e1.partition, po.partition);
    assert.equal(e1.offset, po.offset);
    assert.equal(e2.offset, po.offset);
    assert.equal(typeof e1.timestamp, 'number');
    assert.ok(Math.abs(Number(e1.timestamp) - Date.now()) < 10 * 60_000, 'timestamp is recent');
    assert.equal(await j.pointer(), 2);
  });

  test('every payload kind round-trips', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([
      { seqNr: 1, payload: 'hello' },
      { seqNr: 2, payload: 'a JSON string', payloadType: 'json' },
      { seqNr: 3, payload: [1, 'x', null, true, 1.5, { nested: { deep: [] } }] },
      { seqNr: 4, payload: 42 },
      { seqNr: 5, payload: -0.25 },
      { seqNr: 6, payload: null, payloadType: 'json' },
      { seqNr: 7, payload: new Uint8Array(0) },
      { seqNr: 8 },
      { seqNr: 9, payload: null },
      { seqNr: 10, payload: { 'ünïcødé 🎉': 'значение', empty: '' } },
      { seqNr: 11, payload: false },
    ]);
    const { events } = await collect(j.read());
    const got = events.map((e) => [e.seqNr, e.payloadType, e.payload instanceof Uint8Array ? [...e.payload] : e.payload]);
    assert.deepStrictEqual(got, [
      [1, 'text', 'hello'],
      [2, 'json', 'a JSON string'],
      [3, 'json', [1, 'x', null, true, 1.5, { nested: { deep: [] } }]],
      [4, 'json', 42],
      [5, 'json', -0.25],
      [6, 'json', null],
      [7, 'binary', []],
      [8, null, null],
      [9, null, null],
      [10, 'json', { 'ünïcødé 🎉': 'значение', empty: '' }],
      [11, 'json', false],
    ]);
  });

  test('append options: metadata, payloadMetadata, headers, expireAfterMs', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: 1, payload: 'a' }], {
      metadata: { trace: 'abc', n: [1, 2] },
      payloadMetadata: { schema: 2 },
      headers: { b: '2', a: '1' },
      expireAfterMs: 86_400_000,
      timeoutMs: 10_000,
    });
    await j.append([{ seqNr: 2 }], { headers: new Map([['m', 'map']]) });
    const { events } = await collect(j.read());
    const [e1, e2] = events as [EventRecord, EventRecord];
    assert.deepStrictEqual(e1.metadata, { trace: 'abc', n: [1, 2] });
    assert.deepStrictEqual(e1.payloadMetadata, { schema: 2 });
    assert.deepStrictEqual(e1.headers, { a: '1', b: '2' });
    assert.equal(e1.expireAfterMs, 86_400_000);
    assert.equal(e2.metadata, null);
    assert.equal(e2.payloadMetadata, null);
    assert.equal(e2.expireAfterMs, null);
    assert.deepStrictEqual(e2.headers, { m: 'map' });
    assert.equal(typeof e1.origin === 'string' || e1.origin === null, true);
  });

  test('read bounds: from, to, max', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append(Array.from({ length: 10 }, (_, i) => ({ seqNr: i + 1 })));
    const seqs = async (o: Parameters<typeof j.read>[0]) => {
      const r = await collect(j.read(o));
      return [r.events.map((e) => e.seqNr), r.highest];
    };
    assert.deepEqual(await seqs({ from: 4 }), [[4, 5, 6, 7, 8, 9, 10], 10]);
    assert.deepEqual(await seqs({ to: 3 }), [[1, 2, 3], 10]);
    assert.deepEqual(await seqs({ from: 3, to: 6, max: 2 }), [[3, 4], 10]);
    assert.deepEqual(await seqs({ max: 1 }), [[1], 10]);
    assert.deepEqual(await seqs({ from: 7, to: 2 }), [[], 10]);
    assert.deepEqual(await seqs({ from: 11 }), [[], 10]);
    assert.deepEqual(await seqs({ from: 1n, to: MAX_SEQ_NR, max: MAX_SEQ_NR }), [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 10]);
  });

  test('delete: clamps to the last seq_nr and keeps it', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    assert.equal(await j.delete(5), null, 'nothing to delete in a new journal');
    await j.append([{ seqNr: 1 }, { seqNr: 2 }, { seqNr: 3 }]);
    const po = await j.delete(2);
    assert.ok(po && typeof po.partition === 'number');
    assert.deepEqual((await collect(j.read())).events.map((e) => e.seqNr), [3]);
    await j.delete(MAX_SEQ_NR);
    const r = await collect(j.read());
    assert.deepEqual(r.events, []);
    assert.equal(r.highest, 3);
    assert.equal(await j.pointer(), 3);
    await j.append([{ seqNr: 4 }]);
    assert.deepEqual((await collect(j.read())).events.map((e) => e.seqNr), [4]);
  });

  test('purge: the journal starts anew', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: 1 }, { seqNr: 2 }]);
    const po = await j.purge();
    assert.equal(typeof po.partition, 'number');
    assert.equal(await j.pointer(), null);
    const r = await collect(j.read());
    assert.deepEqual(r.events, []);
    assert.equal(r.highest, null);
    await j.append([{ seqNr: 1, payload: 'again' }]);
    assert.deepEqual((await collect(j.read())).events.map((e) => e.payload), ['again']);
    assert.ok((await j.purge()).partition >= 0, 'purging a purged journal is fine');
  });

  test('topic: an explicit topic equal to the default reads the same journal', async (t) => {
    const c = await testClient(t);
    const id = freshId();
    await c.journal(id).append([{ seqNr: 1 }]);
    const same = c.journal(id, { topic: c.serverInfo.defaultTopic });
    assert.equal(same.topic, c.serverInfo.defaultTopic);
    assert.equal(await same.pointer(), 1);
  });

  test('readers drop events whose seq_nr is not above the previous one', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: 1, payload: 'a' }, { seqNr: 2, payload: 'b' }]);
    await j.append([{ seqNr: 2, payload: 'dup' }, { seqNr: 3, payload: 'c' }]);
    assert.deepEqual((await collect(j.read())).events.map((e) => e.payload), ['a', 'b', 'c']);
  });

  test('large events: a record Kafka refuses is RECORD_TOO_LARGE; big events read back across frames', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    const err = await j.append([{ seqNr: 1, payload: Buffer.alloc(4 * 1024 * 1024, 7) }]).catch((e: unknown) => e);
    assert.ok(err instanceof RecordTooLargeError, String(err));
    assert.equal(err.retryable, false);
    const big = Buffer.alloc(256 * 1024, 1);
    for (let i = 1; i <= 6; i++) await j.append([{ seqNr: i, payload: big }]);
    const r = await collect(j.read());
    assert.equal(r.events.length, 6);
    assert.ok(r.events.every((e) => e.payload instanceof Uint8Array && Buffer.compare(e.payload, big) === 0));
  });

  test('close: later calls fail with ConnectionError; closed() resolves undefined', async () => {
    const c = await connect({ path: socketPath() });
    const j = c.journal(freshId());
    await c.close();
    await c.close();
    assert.equal(c.isClosed, true);
    assert.equal(await c.closed(), undefined);
    await assert.rejects(j.pointer(), ConnectionError);
    await assert.rejects(c.ping(), ConnectionError);
    assert.throws(() => j.read(), ConnectionError);
  });

  test('await using closes the client', async () => {
    let outer;
    {
      await using c = await connect({ path: socketPath() });
      outer = c;
      await c.ping();
    }
    assert.equal(outer.isClosed, true);
  });

  test('path defaults to KJOURNAL_SOCKET', async () => {
    const c = await connect();
    await c.ping();
    await c.close();
  });
});
