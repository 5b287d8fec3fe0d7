// subscribe and subscribeAll against the real sidecar (KJOURNAL_SOCKET).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JournalPurgedError, positionOf, type Position, type TopicEventRecord } from '../src/index.js';
import { NEEDS_SIDECAR, freshId, testClient } from './helpers.js';

describe('subscriptions', { skip: NEEDS_SIDECAR }, () => {
  test('subscribe catches up, follows, and break cancels', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([1, 2, 3].map((s) => ({ seqNr: s, payload: `e${s}` })));
    const got: number[] = [];
    for await (const e of j.subscribe({ from: 2 })) {
      got.push(Number(e.seqNr));
      if (e.seqNr === 3) await j.append([{ seqNr: 4, payload: 'e4' }, { seqNr: 5, payload: 'e5' }]);
      if (e.seqNr === 5) break;
    }
    assert.deepEqual(got, [2, 3, 4, 5]);
    await c.ping();
    // The stream's final frame (CANCELLED) is sent by the subscription once it sees the cancel, which
    // may be after the pong (the protocol orders a stream's frames, not them with other replies).
    for (let i = 0; i < 200 && c.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.inFlight, 0);
  });

  test('a purge ends the subscription with JournalPurgedError', async (t) => {
    const c = await testClient(t);
    const j = c.journal(freshId());
    await j.append([{ seqNr: 1 }]);
    await assert.rejects(async () => {
      for await (const e of j.subscribe()) if (e.seqNr === 1) await j.purge();
    }, JournalPurgedError);
  });

  test('subscribeAll delivers every event with its journal and resumes after stored positions', async (t) => {
    const c = await testClient(t);
    const topic = `subn_${freshId().replace(/[^a-zA-Z0-9]/g, '').slice(-12)}`;
    for (let i = 0; i < 3; i++) await c.journal(`j${i}`, { topic }).append([{ seqNr: 1, payload: i }, { seqNr: 2, payload: i }]);
    const seen: TopicEventRecord[] = [];
    for await (const e of c.subscribeAll({ topic })) {
      seen.push(e);
      if (seen.length === 6) break;
    }
    assert.deepEqual(seen.map((e) => `${e.journal}/${e.seqNr}`).sort(), ['j0/1', 'j0/2', 'j1/1', 'j1/2', 'j2/1', 'j2/2']);
    // Resume after the first event seen of each partition: the rest comes, nothing twice.
    const stored = new Map<number, Position>();
    for (const e of seen) if (!stored.has(e.partition)) stored.set(e.partition, positionOf(e));
    const key = (p: Position) => `${p.partition}:${p.offset}:${p.seqNr}`;
    const storedKeys = new Set([...stored.values()].map(key));
    const rest = seen.map(positionOf).filter((p) => !storedKeys.has(key(p)));
    const resumed: string[] = [];
    for await (const e of c.subscribeAll({ topic, after: stored.values(), start: 'latest' })) {
      resumed.push(key(positionOf(e)));
      if (resumed.length === rest.length) break;
    }
    assert.deepEqual(resumed.sort(), rest.map(key).sort());
  });
});
