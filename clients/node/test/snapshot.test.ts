// Snapshots and conditional appends on the real stack: the Akka/Pekko SnapshotStoreSpec scenarios
// (shared/research/tck.md §1.4) through saveSnapshot/loadSnapshot/deleteSnapshots, recover(), and
// expectedSeqNr.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WrongExpectedSeqNrError, connect, type Client, type Journal, type Int } from '../src/index.js';
import { NEEDS_SIDECAR, freshId, socketPath } from './helpers.js';

describe('TCK SnapshotStoreSpec', { skip: NEEDS_SIDECAR }, () => {
  let client: Client;
  before(async () => {
    client = await connect({ path: socketPath() });
  });
  after(() => client?.close());

  // The fixture: snapshots s-1..s-5 at seq_nrs 11..15, with distinct timestamps.
  async function pid(): Promise<{ j: Journal; ts: Int[] }> {
    const j = client.journal(freshId('snap'));
    const base = Date.now();
    const ts: Int[] = [];
    for (let i = 1; i <= 5; i++) ts.push(await j.saveSnapshot(10 + i, `s-${i}`, { timestamp: base + i }));
    return { j, ts };
  }

  test('not load a snapshot given an invalid persistenceId', async () => {
    assert.equal(await client.journal(freshId('invalid')).loadSnapshot(), null);
  });
  test('not load a snapshot given non-matching timestamp criteria', async () => {
    const { j } = await pid();
    assert.equal(await j.loadSnapshot({ maxTimestamp: 100 }), null);
  });
  test('not load a snapshot given non-matching sequence number criteria', async () => {
    const { j } = await pid();
    assert.equal(await j.loadSnapshot({ maxSeqNr: 7 }), null);
  });
  test('load the most recent snapshot', async () => {
    const { j, ts } = await pid();
    const s = await j.loadSnapshot();
    assert.deepEqual([s?.seqNr, s?.payload, s?.timestamp], [15, 's-5', ts[4]]);
  });
  test('load the most recent snapshot matching an upper sequence number and timestamp bound', async () => {
    const { j, ts } = await pid();
    assert.equal((await j.loadSnapshot({ maxSeqNr: 13 }))?.payload, 's-3');
    assert.equal((await j.loadSnapshot({ maxSeqNr: 13, maxTimestamp: ts[2] }))?.payload, 's-3');
  });
  test('delete a single snapshot identified by sequenceNr', async () => {
    const { j } = await pid();
    assert.equal(await j.deleteSnapshots({ seqNr: 13 }), 1);
    assert.equal((await j.loadSnapshot({ maxSeqNr: 13 }))?.payload, 's-2');
  });
  test('delete all snapshots matching upper sequence number and timestamp bounds', async () => {
    const { j, ts } = await pid();
    assert.equal(await j.deleteSnapshots({ maxSeqNr: 13, maxTimestamp: ts[2] }), 3);
    assert.equal(await j.loadSnapshot({ maxSeqNr: 13, maxTimestamp: ts[2] }), null);
    assert.equal((await j.loadSnapshot({ maxSeqNr: 14, maxTimestamp: ts[3] }))?.payload, 's-4');
  });
  test('not delete snapshots with non-matching upper timestamp bounds', async () => {
    const { j, ts } = await pid();
    assert.equal(await j.deleteSnapshots({ maxSeqNr: 14, maxTimestamp: BigInt(ts[3]!) - 1n }), 3);
    assert.equal((await j.loadSnapshot({ maxSeqNr: 14, maxTimestamp: ts[3] }))?.payload, 's-4');
  });
  test('save and overwrite snapshot with same sequence number', async () => {
    const { j } = await pid();
    await j.saveSnapshot(15, 's-5-modified');
    const s = await j.loadSnapshot({ maxSeqNr: 15 });
    assert.deepEqual([s?.seqNr, s?.payload], [15, 's-5-modified']);
  });
  test('save bigger size snapshot, binary, with metadata', async () => {
    const { j } = await pid();
    const big = new Uint8Array(10000).fill(48);
    await j.saveSnapshot(100, big, { metadata: 'fictional metadata' });
    const s = await j.loadSnapshot();
    assert.deepEqual([s?.seqNr, s?.payloadType, s?.metadata], [100, 'binary', 'fictional metadata']);
    assert.deepEqual(Buffer.from(s!.payload as Uint8Array), Buffer.from(big));
  });
});

describe('recover and expectedSeqNr', { skip: NEEDS_SIDECAR }, () => {
  let client: Client;
  before(async () => {
    client = await connect({ path: socketPath() });
  });
  after(() => client?.close());

  test('recover() returns the latest snapshot and the events after it', async () => {
    const j = client.journal(freshId('recover'));
    assert.deepEqual(await j.recover(), { snapshot: null, events: [], highestSeqNr: null });
    await j.append([1, 2, 3, 4, 5].map((seqNr) => ({ seqNr, payload: { n: seqNr } })));
    await j.saveSnapshot(3, { total: 6 });
    const r = await j.recover();
    assert.deepEqual(r.snapshot?.payload, { total: 6 });
    assert.deepEqual(r.events.map((e) => e.seqNr), [4, 5]);
    assert.equal(r.highestSeqNr, 5);
    const upTo = await j.recover({ to: 2 });
    assert.equal(upTo.snapshot, null);
    assert.deepEqual(upTo.events.map((e) => e.seqNr), [1, 2]);
  });

  test('append with expectedSeqNr fails with the actual highest seq_nr', async () => {
    const j = client.journal(freshId('cond'));
    await j.append([{ seqNr: 1 }], { expectedSeqNr: 0 });
    await assert.rejects(j.append([{ seqNr: 2 }], { expectedSeqNr: 0 }), (e: unknown) => {
      assert.ok(e instanceof WrongExpectedSeqNrError);
      assert.equal(e.highestSeqNr, 1);
      assert.equal(e.codeName, 'WRONG_EXPECTED_SEQ_NR');
      return true;
    });
    await j.append([{ seqNr: 2 }], { expectedSeqNr: 1 });
    assert.equal(await j.pointer(), 2);
  });
});
