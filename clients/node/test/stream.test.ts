// Read streams, concurrency and bigint seq_nrs against the real sidecar.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_SEQ_NR, type EventRecord, type SeqNr } from '../src/index.js';
import { NEEDS_SIDECAR, collect, freshId, testClient, until } from './helpers.js';


describe('read streams', { skip: NEEDS_SIDECAR }, () => {
  test('credit: a small buffer streams many events in order', async (t) => {
    const c = await testClient(t, { readBufferSize: 3 });
    const j = c.journal(freshId());
    for (let b = 0; b < 5; b++) await j.append(Array.from({ length: 20 }, (_, i) => ({ seqNr: b * 20 + i + 1, payload: b * 20 + i + 1 })));
    const seen: SeqNr[] = [];
    for await (const e of j.read()) {
      assert.equal(e.payload, e.seqNr);
      seen.push(e.seqNr);
    }
    assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i + 1));
    for (const size of [1, 2, 7, 1000]) {
      const r = await collect(j.read({ bufferSize: size }));
      assert.equal(r.events.length, 100, `bufferSize ${size}`);
      assert.equal(r.highest, 100);
    }
    assert.equal(c.inFlight, 0);
  });

  test('break: cancels the stream, frees its slot, the connection goes on', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append(Array.from({ length: 50 }, (_, i) => ({ seqNr: i + 1 })));
    for (const size of [1, 5, 256]) {
      const s = j.read({ bufferSize: size });
      let n = 0;
      for await (const e of s) {
        assert.equal(e.seqNr, n + 1);
        if (++n === 3) break;
      }
      assert.equal(n, 3);
      assert.equal(s.highestSeqNr, undefined, 'no highest seq_nr after a break');
      await until(() => c.inFlight === 0); // the sidecar's final frame (CANCELLED or end) arrived
    }
    assert.equal(await j.pointer(), 50);
    assert.equal((await collect(j.read())).events.length, 50);
  });

  test('a throw inside the loop cancels too', async (t) => {
    const c = await testClient(t, { readBufferSize: 2 });
    const j = c.journal(freshId());
    await j.append(Array.from({ length: 10 }, (_, i) => ({ seqNr: i + 1 })));
    await assert.rejects(async () => {
      for await (const e of j.read()) if (e.seqNr === 2) throw new Error('boom');
    }, /boom/);
    await until(() => c.inFlight === 0);
    await c.ping();
  });

  test('a stream is lazy and single-use', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: 1 }]);
    const s = j.read();
    assert.equal(c.inFlight, 0, 'nothing sent before iterating');
    // Appended after read() but before iterating: the read's Mark comes later, so it is seen.
    await j.append([{ seqNr: 2 }]);
    assert.deepEqual((await collect(s)).events.map((e) => e.seqNr), [1, 2]);
    assert.throws(() => s[Symbol.asyncIterator](), /only once/);
  });

  test('a paused stream does not hold up other requests on the connection', async (t) => {
    const c = await testClient(t, { readBufferSize: 1 });
    const j = c.journal(freshId());
    await j.append(Array.from({ length: 5 }, (_, i) => ({ seqNr: i + 1 })));
    const it = j.read()[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal((first.value as EventRecord).seqNr, 1);
    // The stream now waits for credit; other work on the connection goes on.
    const other = c.journal(freshId());
    await other.append([{ seqNr: 1 }]);
    assert.equal(await other.pointer(), 1);
    await c.ping();
    assert.deepEqual((await collect(other.read())).events.map((e) => e.seqNr), [1]);
    const rest: SeqNr[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.seqNr);
    assert.deepEqual(rest, [2, 3, 4, 5]);
  });

  test('many streams at once on one connection', async (t) => {
    const c = await testClient(t, { readBufferSize: 2 });
    const journals = Array.from({ length: 10 }, () => c.journal(freshId()));
    await Promise.all(journals.map((j, k) => j.append(Array.from({ length: k + 1 }, (_, i) => ({ seqNr: i + 1, payload: `${k}` })))));
    const results = await Promise.all(journals.map((j) => collect(j.read())));
    results.forEach((r, k) => {
      assert.equal(r.events.length, k + 1);
      assert.ok(r.events.every((e) => e.payload === `${k}`));
      assert.equal(r.highest, k + 1);
    });
  });
});

describe('concurrency', { skip: NEEDS_SIDECAR }, () => {
  test('100 concurrent appends on one connection', async (t) => {
    const c = await testClient(t);
    const journals = Array.from({ length: 100 }, () => c.journal(freshId()));
    const started = Date.now();
    const results = await Promise.all(journals.map((j, i) => j.append([{ seqNr: 1, payload: { i } }, { seqNr: 2, payload: `second-${i}` }])));
    const ms = Date.now() - started;
    t.diagnostic(`100 concurrent appends: ${ms} ms`);
    assert.equal(results.length, 100);
    for (const r of results) assert.equal(typeof r.partition, 'number');
    assert.equal(c.inFlight, 0);
    const reads = await Promise.all(journals.map((j) => collect(j.read())));
    reads.forEach((r, i) => {
      assert.deepStrictEqual(
        r.events.map((e) => e.payload),
        [{ i }, `second-${i}`],
      );
    });
  });

  test('100 concurrent appends to one journal, distinct seq_nrs, then read', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await Promise.all(Array.from({ length: 100 }, (_, i) => j.append([{ seqNr: i + 1, payload: i + 1 }])));
    const r = await collect(j.read());
    // Kafka keeps the order in which the sidecar produced them, not the seq_nr order: readers keep an
    // increasing run and drop the rest, so every seq_nr read is increasing and the last is seen.
    const seqs = r.events.map((e) => Number(e.seqNr));
    assert.ok(seqs.length >= 1);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!);
    assert.ok(Number(r.highest) >= 1 && Number(r.highest) <= 100);
  });

  test('more concurrent requests than max_in_flight wait for a slot instead of failing', async (t) => {
    const c = await testClient(t);
    const n = c.serverInfo.maxInFlight + 50;
    let peak = 0;
    const tick = setInterval(() => (peak = Math.max(peak, c.inFlight)), 0);
    try {
      await Promise.all(Array.from({ length: n }, () => c.ping()));
    } finally {
      clearInterval(tick);
    }
    assert.ok(peak <= c.serverInfo.maxInFlight, `peak ${peak}`);
    assert.equal(c.inFlight, 0);
  });

  test('mixed operations interleave; replies come back to their callers', async (t) => {
    const c = await testClient(t);
    const ids = Array.from({ length: 20 }, () => freshId());
    await Promise.all(ids.map((id, i) => c.journal(id).append(Array.from({ length: i + 1 }, (_, k) => ({ seqNr: k + 1 })))));
    const out = await Promise.all(
      ids.flatMap((id, i) => [
        c.journal(id).pointer().then((p) => ['pointer', i, p]),
        collect(c.journal(id).read()).then((r) => ['read', i, r.events.length]),
        c.ping().then(() => ['ping', i, null]),
      ]),
    );
    for (const [op, i, v] of out) {
      if (op === 'pointer' || op === 'read') assert.equal(v, (i as number) + 1, `${op} ${i}`);
    }
  });
});

describe('bigint seq_nrs', { skip: NEEDS_SIDECAR }, () => {
  const big = 2n ** 53n + 1n; // the first integer a number cannot hold

  test('seq_nrs above 2^53 round-trip exactly', async (t) => {
    const c = await testClient(t);
    // A topic no replicator copies: once in Cassandra, seqNrs this far apart (2^53, 2^62, 2^63)
    // are read only as far as a segment walk reaches (journal/cassandra Read), and this test is
    // about the wire, not about that limit.
    const j = c.journal(freshId(), { topic: 'unreplicated_bigint' });
    await j.append([{ seqNr: 9_007_199_254_740_990 }, { seqNr: 2n ** 53n - 1n }]);
    await j.append([{ seqNr: big }, { seqNr: big + 1n }, { seqNr: 2n ** 62n }]);
    await j.append([{ seqNr: MAX_SEQ_NR - 1n }, { seqNr: MAX_SEQ_NR }]);
    const r = await collect(j.read());
    assert.deepStrictEqual(
      r.events.map((e) => e.seqNr),
      [9_007_199_254_740_990, 9_007_199_254_740_991, big, big + 1n, 2n ** 62n, MAX_SEQ_NR - 1n, MAX_SEQ_NR],
    );
    assert.equal(typeof r.events[1]!.seqNr, 'number');
    assert.equal(typeof r.events[2]!.seqNr, 'bigint');
    assert.equal(r.highest, MAX_SEQ_NR);
    assert.equal(await j.pointer(), MAX_SEQ_NR);
  });

  test('from, to, max and delete take bigints', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: big }, { seqNr: big + 1n }, { seqNr: big + 2n }, { seqNr: big + 3n }]);
    const r = await collect(j.read({ from: big + 1n, to: big + 2n }));
    assert.deepStrictEqual(r.events.map((e) => e.seqNr), [big + 1n, big + 2n]);
    assert.equal(r.highest, big + 3n);
    assert.deepStrictEqual((await collect(j.read({ max: 1n }))).events.map((e) => e.seqNr), [big]);
    assert.ok(await j.delete(big + 1n));
    assert.deepStrictEqual((await collect(j.read())).events.map((e) => e.seqNr), [big + 2n, big + 3n]);
    await j.delete(MAX_SEQ_NR);
    assert.equal(await j.pointer(), big + 3n);
  });

  test('64-bit integers in JSON payloads and metadata round-trip', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    const payload = { u64max: 2n ** 64n - 1n, i64min: -(2n ** 63n), above: 2n ** 53n, safe: 2 ** 53 - 1, small: 5n, neg: -7 };
    await j.append([{ seqNr: 1, payload }], { metadata: [2n ** 60n] });
    const [e] = (await collect(j.read())).events as [EventRecord];
    assert.deepStrictEqual(e.payload, { above: 2n ** 53n, i64min: -(2n ** 63n), neg: -7, safe: 2 ** 53 - 1, small: 5, u64max: 2n ** 64n - 1n });
    assert.deepStrictEqual(e.metadata, [2n ** 60n]);
  });
});
