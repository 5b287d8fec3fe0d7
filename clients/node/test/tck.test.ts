// The Akka/Pekko persistence TCK's JournalSpec replay scenarios (shared/research/tck.md §1.2, §1.3),
// translated as §1.8 says: WriteMessages → append, ReplayMessages(from, to, max) → read + the end
// frame's highest seq_nr, highest-only → pointer, DeleteMessagesTo → delete.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_SEQ_NR, connect, type Client, type Journal, type SeqNr } from '../src/index.js';
import { NEEDS_SIDECAR, collect, freshId, socketPath } from './helpers.js';

const MAX = MAX_SEQ_NR; // Long.MaxValue

/**
 * ReplayMessages(from, to, max) as an Akka adapter would map it: from 0 (Akka's "from the start") is
 * seq_nr 1; max 0 or to 0 replays nothing and only asks for the highest seq_nr, which is pointer.
 */
async function replay(j: Journal, from: SeqNr, to: SeqNr, max: SeqNr): Promise<{ seqNrs: SeqNr[]; highest: SeqNr }> {
  if (BigInt(max) === 0n || BigInt(to) === 0n) return { seqNrs: [], highest: (await j.pointer()) ?? 0 };
  const r = await collect(j.read({ from: BigInt(from) === 0n ? 1 : from, to, max }));
  return { seqNrs: r.events.map((e) => e.seqNr), highest: (r.highest as SeqNr | null) ?? 0 };
}

describe('TCK JournalSpec', { skip: NEEDS_SIDECAR }, () => {
  let client: Client;
  before(async () => {
    client = await connect({ path: socketPath() });
  });
  after(() => client?.close());

  // The fixture: events 1..5 written as in the spec (a 2-event atomic write among single ones).
  async function pid(): Promise<Journal> {
    const j = client.journal(freshId('tck'));
    await j.append([{ seqNr: 1, payload: 'a-1' }]);
    await j.append([{ seqNr: 2, payload: 'a-2' }, { seqNr: 3, payload: 'a-3' }]);
    await j.append([{ seqNr: 4, payload: 'a-4' }]);
    await j.append([{ seqNr: 5, payload: 'a-5' }]);
    return j;
  }

  const cases: [number, string, SeqNr, SeqNr, SeqNr, number[]][] = [
    [1, 'replay all messages', 1, MAX, MAX, [1, 2, 3, 4, 5]],
    [2, 'replay messages using a lower sequence number bound', 3, MAX, MAX, [3, 4, 5]],
    [3, 'replay messages using an upper sequence number bound', 1, 3, MAX, [1, 2, 3]],
    [4, 'replay messages using a count limit', 1, MAX, 3, [1, 2, 3]],
    [5, 'replay messages using a lower and upper sequence number bound', 2, 3, MAX, [2, 3]],
    [6, 'replay messages using a lower and upper sequence number bound and a count limit', 2, 5, 2, [2, 3]],
    [7, 'replay a single if lower sequence number bound equals upper sequence number bound', 2, 2, MAX, [2]],
    [8, 'replay a single message if count limit equals 1', 2, 4, 1, [2]],
    [9, 'not replay messages if count limit equals 0', 2, 4, 0, []],
    [10, 'not replay messages if lower  sequence number bound is greater than upper sequence number bound', 3, 2, MAX, []],
    [12, 'retrieve highest sequenceNr without replaying events', 0, 0, 1, []],
  ];
  for (const [n, name, from, to, max, want] of cases) {
    test(`${n}. ${name}`, async () => {
      const j = await pid();
      assert.deepStrictEqual(await replay(j, from, to, max), { seqNrs: want, highest: 5 });
    });
  }

  test('11. not replay messages if the persistent actor has not yet written messages', async () => {
    const j = client.journal(freshId('non-existing-pid'));
    assert.deepStrictEqual(await replay(j, 0, MAX, MAX), { seqNrs: [], highest: 0 });
  });

  test('13. not replay permanently deleted messages (range deletion)', async () => {
    const j = await pid();
    assert.ok(await j.delete(3));
    assert.deepStrictEqual(await replay(j, 1, MAX, MAX), { seqNrs: [4, 5], highest: 5 });
  });

  test('14. not reset highestSequenceNr after message deletion', async () => {
    const j = await pid();
    assert.deepStrictEqual(await replay(j, 0, MAX, MAX), { seqNrs: [1, 2, 3, 4, 5], highest: 5 });
    await j.delete(3);
    assert.deepStrictEqual(await replay(j, 0, MAX, MAX), { seqNrs: [4, 5], highest: 5 });
  });

  test('15. not reset highestSequenceNr after journal cleanup', async () => {
    const j = await pid();
    assert.deepStrictEqual(await replay(j, 0, MAX, MAX), { seqNrs: [1, 2, 3, 4, 5], highest: 5 });
    assert.ok(await j.delete(MAX));
    assert.deepStrictEqual(await replay(j, 0, MAX, MAX), { seqNrs: [], highest: 5 });
    assert.equal(await j.pointer(), 5);
  });

  // Pekko's additions, all after DeleteMessagesTo(pid, 3).
  const afterDelete: [string, SeqNr, SeqNr, number[]][] = [
    ['replay all surviving messages when the lower bound equals the last deleted sequence number', 3, MAX, [4, 5]],
    ['return only recovery success when the upper bound falls within a deleted prefix', 1, 2, []],
    ['return only recovery success when the upper bound equals the last deleted sequence number', 1, 3, []],
    ['replay from the first surviving message when the lower bound equals the first surviving sequence number', 4, MAX, [4, 5]],
    // Optional supportsReplayWindowSpanningDeletedPrefix.
    ['replay surviving messages within bounds when the replay window spans a deleted prefix', 1, 4, [4]],
  ];
  for (const [name, from, to, want] of afterDelete) {
    test(`pekko: ${name}`, async () => {
      const j = await pid();
      await j.delete(3);
      assert.deepStrictEqual(await replay(j, from, to, MAX), { seqNrs: want, highest: 5 });
    });
  }

  // Optional supportsMetadata: metadata written with event 6 comes back with it.
  test('optional: return metadata', async () => {
    const j = await pid();
    await j.append([{ seqNr: 6, payload: 'a-6' }], { metadata: 'meta-data' });
    const r = await collect(j.read({ from: 6, to: 6, max: 1 }));
    assert.deepStrictEqual(
      r.events.map((e) => [e.seqNr, e.metadata]),
      [[6, 'meta-data']],
    );
    assert.equal(r.highest, 6);
  });

  // Optional supportsSerialization, as §1.8 says: opaque bytes round-trip.
  test('optional: serialize events (opaque bytes)', async () => {
    const j = await pid();
    const bytes = Buffer.from('TestPayload|\u0000\u0001\u00ff', 'latin1');
    await j.append([{ seqNr: 6, payload: bytes }]);
    const r = await collect(j.read({ from: 6 }));
    assert.equal(r.events.length, 1);
    assert.deepStrictEqual(Buffer.from(r.events[0]!.payload as Uint8Array), bytes);
    assert.ok(Number(r.highest) >= 6);
  });

  // kafka-journal's ConsistencySpec: 100 events written in batches of 10, half deleted.
  test('consistency: 100 events in batches of 10, in order, then half deleted', async () => {
    const j = client.journal(freshId('tck'));
    for (let b = 0; b < 10; b++) await j.append(Array.from({ length: 10 }, (_, i) => ({ seqNr: b * 10 + i + 1, payload: `e${b * 10 + i + 1}` })));
    const all = await replay(j, 1, MAX, MAX);
    assert.deepStrictEqual(all.seqNrs, Array.from({ length: 100 }, (_, i) => i + 1));
    await j.delete(50);
    const half = await replay(j, 1, MAX, MAX);
    assert.deepStrictEqual(half.seqNrs, Array.from({ length: 50 }, (_, i) => i + 51));
    assert.equal(half.highest, 100);
  });
});
