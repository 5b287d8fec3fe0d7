// Client behaviour a healthy sidecar never shows, against a scripted fake (test/fake.ts), and argument
// checks. No sidecar needed.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { encode } from '@msgpack/msgpack';
import {
  BadReplyError,
  CancelledError,
  Code,
  ConnectionError,
  InvalidSeqNrError,
  KjournalError,
  ShuttingDownError,
  SidecarError,
  TimeoutError,
  TooManyConnectionsError,
  UnsupportedVersionError,
  connect,
  type Client,
  type ConnectOptions,
  type EventRecord,
} from '../src/index.js';
import { FakeSidecar, type FakeOptions } from './fake.js';
import { until } from './helpers.js';
import { frame } from '../src/wire.js';

async function fake(t: TestContext, o: FakeOptions = {}): Promise<FakeSidecar> {
  const f = await FakeSidecar.start(o);
  t.after(() => f.stop());
  return f;
}

async function client(t: TestContext, f: FakeSidecar, o: ConnectOptions = {}): Promise<Client> {
  const c = await connect({ path: f.path, ...o });
  t.after(() => c.close());
  return c;
}

const record = (seqNr: number, extra: Record<string, unknown> = {}) => ({
  seq_nr: seqNr,
  tags: [],
  payload: null,
  payload_type: null,
  timestamp: 0,
  partition: 0,
  offset: seqNr,
  origin: null,
  version: null,
  metadata: null,
  expire_after_ms: null,
  payload_metadata: null,
  headers: {},
  ...extra,
});

describe('connect', () => {
  test('no socket: ConnectionError with the socket error as cause', async () => {
    const err = await connect({ path: '/nonexistent/kjournal.sock' }).then(
      () => assert.fail('connected'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionError);
    assert.ok(err instanceof KjournalError);
    assert.equal(err.name, 'ConnectionError');
    assert.equal(err.retryable, true);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.match(err.message, /nonexistent/);
  });

  test('hello is sent with the client name and version 1', async (t) => {
    const f = await fake(t);
    const c = await client(t, f);
    const hello = f.conns[0]!.frames[0]!;
    assert.deepEqual(hello['versions'], [1]);
    assert.match(hello['client'] as string, /^kjournal-node\/\d/);
    assert.equal(hello['id'], 1);
    assert.equal(c.serverInfo.maxInFlight, 8);
  });

  test('TOO_MANY_CONNECTIONS before hello: connect rejects with it, retryable', async (t) => {
    const f = await fake(t, {
      onConnect: (c) => {
        c.error(0, Code.TOO_MANY_CONNECTIONS, 'full', true);
        c.socket.end();
      },
    });
    await assert.rejects(connect({ path: f.path }), (e: unknown) => e instanceof TooManyConnectionsError && e.retryable && e.code === 301);
  });

  test('TOO_MANY_CONNECTIONS and an immediate close, before hello is written: connect still reports it', async (t) => {
    const f = await fake(t, {
      onConnect: (c) => {
        const full = frame(encode({ id: 0, error: { code: Code.TOO_MANY_CONNECTIONS, message: 'full', retryable: true } }));
        c.socket.write(full, () => c.socket.destroy());
      },
    });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(connect({ path: f.path }), TooManyConnectionsError);
    }
  });

  test('UNSUPPORTED_VERSION: connect rejects with it', async (t) => {
    const f = await fake(t, {
      hello: (c, req) => {
        c.error(req['id'] as number, Code.UNSUPPORTED_VERSION, 'no common version');
        c.socket.end();
      },
    });
    await assert.rejects(connect({ path: f.path }), UnsupportedVersionError);
  });

  test('no hello reply: connect gives up after connectTimeoutMs', async (t) => {
    const f = await fake(t, { hello: () => {} });
    const started = Date.now();
    await assert.rejects(connect({ path: f.path, connectTimeoutMs: 200 }), ConnectionError);
    assert.ok(Date.now() - started < 2000);
  });

  test('a hello reply missing a key is a BadReplyError', async (t) => {
    const f = await fake(t, { hello: { version: 1, server: 'x' } });
    await assert.rejects(connect({ path: f.path }), BadReplyError);
  });

  test('bad options throw before connecting', async () => {
    await assert.rejects(connect({ timeoutMs: 0 }), RangeError);
    await assert.rejects(connect({ readBufferSize: 1.5 }), RangeError);
    await assert.rejects(connect({ connectTimeoutMs: '1' as unknown as number }), TypeError);
  });
});

describe('replies and errors', () => {
  test('error frames become the class of their code, with the frame retryable flag', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        const id = req['id'] as number;
        if (req['op'] === 'pointer') c.error(id, Code.INVALID_SEQ_NR, 'bad seq', false);
        else if (req['op'] === 'purge') c.error(id, 450, 'a new backend code', true);
        else if (req['op'] === 'delete') c.error(id, 777, 'from the future');
        else c.error(id, Code.TIMEOUT, 'slow', false);
      },
    });
    const c = await client(t, f);
    const j = c.journal('j');
    const e1 = await j.pointer().catch((e: unknown) => e);
    assert.ok(e1 instanceof InvalidSeqNrError && e1 instanceof SidecarError && e1 instanceof KjournalError && e1 instanceof Error);
    assert.equal(e1.name, 'InvalidSeqNrError');
    assert.deepEqual([e1.code, e1.codeName, e1.family, e1.retryable, e1.message], [201, 'INVALID_SEQ_NR', 'request', false, 'bad seq']);
    assert.match(String(e1.stack), /^InvalidSeqNrError: bad seq/);
    const e2 = await j.purge().catch((e: unknown) => e);
    assert.ok(e2 instanceof SidecarError && e2.constructor === SidecarError);
    assert.deepEqual([e2.code, e2.codeName, e2.family, e2.retryable], [450, 'CODE_450', 'backend', true]);
    const e3 = await j.delete(1).catch((e: unknown) => e);
    assert.ok(e3 instanceof SidecarError);
    assert.equal(e3.family, 'unknown');
    const e4 = await c.ping().catch((e: unknown) => e);
    assert.ok(e4 instanceof TimeoutError);
    assert.equal(e4.retryable, false, "the frame's flag wins over the table's default");
  });

  test('replies may come in any order and carry unknown keys', async (t) => {
    const pending: [number, string][] = [];
    const f = await fake(t, {
      onFrame: (c, req) => {
        pending.push([req['id'] as number, req['journal'] as string]);
        if (pending.length === 3) {
          for (const [id, journal] of pending.reverse()) c.send({ id, seq_nr: Number(journal), future: { x: 1 } });
        }
      },
    });
    const c = await client(t, f);
    const got = await Promise.all(['1', '2', '3'].map((id) => c.journal(id).pointer()));
    assert.deepEqual(got, [1, 2, 3]);
  });

  test('a malformed reply fails its request with BadReplyError; the connection goes on', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        const id = req['id'] as number;
        if (req['op'] === 'append') c.send({ id, partition: 1 }); // no offset
        else if (req['op'] === 'pointer') c.sendBody(Buffer.concat([encode({ id }), Buffer.from([0x81])])); // trailing bytes
        else c.send({ id });
      },
    });
    const c = await client(t, f);
    await assert.rejects(c.journal('j').append([{ seqNr: 1 }]), /offset/);
    await assert.rejects(c.journal('j').pointer(), BadReplyError);
    await c.ping();
    assert.equal(c.isClosed, false);
  });

  test('an undecodable frame without an id ends the connection', async (t) => {
    const f = await fake(t, { onFrame: (c) => c.sendBody(Buffer.from([0xc1])) });
    const c = await client(t, f);
    const err = await c.ping().catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError);
    assert.ok(err.cause instanceof BadReplyError);
    assert.ok((await c.closed()) instanceof ConnectionError);
  });

  test('a frame longer than max_frame_bytes ends the connection', async (t) => {
    const f = await fake(t, {
      hello: { ...{ version: 1, server: 'x', max_frame_bytes: 100, max_in_flight: 4, default_topic: 't', default_timeout_ms: 1000 } },
      onFrame: (c) => c.sendRaw(Buffer.from([0, 0, 0, 101])),
    });
    const c = await client(t, f);
    const err = await c.ping().catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError && err.cause instanceof BadReplyError);
  });

  test('a request larger than max_frame_bytes fails at once, even with every slot taken', async (t) => {
    const f = await fake(t, { hello: { version: 1, server: 'x', max_frame_bytes: 200, max_in_flight: 1, default_topic: 't', default_timeout_ms: 1000 } });
    const c = await client(t, f);
    const held = c.ping().catch(() => undefined); // never answered: holds the only slot
    await until(() => f.received.length === 1);
    const started = Date.now();
    await assert.rejects(c.journal('j').append([{ seqNr: 1, payload: 'x'.repeat(300) }]), RangeError);
    assert.ok(Date.now() - started < 500);
    await c.close();
    await held;
  });

  test('a request larger than max_frame_bytes is refused before sending', async (t) => {
    const f = await fake(t, { hello: { version: 1, server: 'x', max_frame_bytes: 200, max_in_flight: 4, default_topic: 't', default_timeout_ms: 1000 } });
    const c = await client(t, f);
    await assert.rejects(c.journal('j').append([{ seqNr: 1, payload: 'x'.repeat(300) }]), RangeError);
    assert.equal(c.inFlight, 0);
    assert.deepEqual(f.received, []);
  });
});

describe('connection loss and deadlines', () => {
  test('the connection drops with requests in flight: they fail with ConnectionError', async (t) => {
    const f = await fake(t, { onFrame: (c, req) => req['op'] === 'append' && c.socket.destroy() });
    const c = await client(t, f);
    const err = await c.journal('j').append([{ seqNr: 1 }]).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.retryable, true);
    assert.ok((await c.closed()) instanceof ConnectionError);
    await assert.rejects(c.ping(), ConnectionError);
  });

  test('SHUTTING_DOWN on id 0, then close: onConnectionError sees it, requests fail with it as cause', async (t) => {
    const seen: KjournalError[] = [];
    const f = await fake(t, {
      onFrame: (c) => {
        c.error(0, Code.SHUTTING_DOWN, 'bye', true);
        c.socket.end();
      },
    });
    const c = await client(t, f, { onConnectionError: (e) => seen.push(e) });
    const err = await c.ping().catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionError);
    assert.ok(err.cause instanceof ShuttingDownError);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof ShuttingDownError);
  });

  test('no reply: the client gives up after timeout + margin; a late reply is dropped', async (t) => {
    const held: number[] = [];
    const f = await fake(t, { onFrame: (_c, req) => held.push(req['id'] as number) });
    const c = await client(t, f, { timeoutMs: 100, localDeadlineMarginMs: 50 });
    const started = Date.now();
    const err = await c.ping().catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.retryable, true);
    assert.ok(Date.now() - started >= 140);
    assert.equal(f.received[0]!['timeout_ms'], 100);
    assert.equal(c.inFlight, 1, 'the sidecar still counts it');
    f.conns[0]!.send({ id: held[0] });
    const pong = f.conns[0]!;
    pong.send({ id: 999 }); // not ours: ignored
    await until(() => c.inFlight === 0);
    assert.equal(c.isClosed, false);
  });

  test('close() fails the requests in flight with ConnectionError', async (t) => {
    const f = await fake(t, { onFrame: () => {} });
    const c = await client(t, f);
    const p = c.journal('j').pointer().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await c.close();
    const err = await p;
    assert.ok(err instanceof ConnectionError);
    assert.match(err.message, /client closed/);
  });

  test('requests beyond max_in_flight wait for a slot', async (t) => {
    const held: number[] = [];
    const f = await fake(t, {
      hello: { version: 1, server: 'x', max_frame_bytes: 1 << 20, max_in_flight: 2, default_topic: 't', default_timeout_ms: 1000 },
      onFrame: (_c, req) => held.push(req['id'] as number),
    });
    const c = await client(t, f);
    const pings = [c.ping(), c.ping(), c.ping(), c.ping()];
    await until(() => f.received.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(f.received.length, 2, 'only max_in_flight sent');
    f.conns[0]!.send({ id: held[0] });
    await until(() => f.received.length === 3);
    for (const id of held.slice(1)) f.conns[0]!.send({ id });
    await until(() => f.received.length === 4);
    f.conns[0]!.send({ id: held[3] });
    await Promise.all(pings);
    assert.equal(c.inFlight, 0);
  });
});

describe('read streams (fake)', () => {
  test('credit: grants what was consumed each time half the buffer is consumed', async (t) => {
    let stream = 0;
    const f = await fake(t, {
      onFrame: (c, req) => {
        if (req['op'] === 'read') {
          stream = req['id'] as number;
          assert.equal(req['credit'], 4);
          c.send({ id: stream, events: [record(1), record(2)] });
          c.send({ id: stream, events: [record(3), record(4)] });
        } else if (req['op'] === 'credit') {
          const n = req['n'] as number;
          const from = 4 + f.received.filter((r) => r['op'] === 'credit').slice(0, -1).reduce((s, r) => s + (r['n'] as number), 0);
          if (from >= 8) c.send({ id: stream, end: true, highest_seq_nr: 99 });
          else c.send({ id: stream, events: Array.from({ length: n }, (_, i) => record(from + i + 1)) });
        }
      },
    });
    const c = await client(t, f, { readBufferSize: 4 });
    const s = c.journal('j').read();
    const seen: unknown[] = [];
    for await (const e of s) seen.push(e.seqNr);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(s.highestSeqNr, 99);
    const credits = f.received.filter((r) => r['op'] === 'credit').map((r) => [r['id'], r['n']]);
    assert.deepEqual(credits, [
      [stream, 2],
      [stream, 2],
      [stream, 2],
      [stream, 2],
    ]);
  });

  test('break sends cancel and drops what still comes', async (t) => {
    let stream = 0;
    const f = await fake(t, {
      onFrame: (c, req) => {
        if (req['op'] === 'read') {
          stream = req['id'] as number;
          c.send({ id: stream, events: [record(1), record(2), record(3)] });
        } else if (req['op'] === 'cancel') {
          c.send({ id: stream, events: [record(4)] }); // already on its way
          c.error(stream, Code.CANCELLED, 'cancelled');
        } else c.send({ id: req['id'] });
      },
    });
    const c = await client(t, f);
    for await (const e of c.journal('j').read()) if (e.seqNr === 1) break;
    await c.ping();
    assert.deepEqual(
      f.received.map((r) => r['op']),
      ['read', 'cancel', 'ping'],
    );
    assert.equal(c.inFlight, 0);
  });

  test('events already received are delivered before the error that ends the stream', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        c.send({ id: req['id'], events: [record(1), record(2)] });
        c.error(req['id'] as number, Code.CASSANDRA_UNAVAILABLE, 'down', true);
      },
    });
    const c = await client(t, f);
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const e of c.journal('j').read()) seen.push(e.seqNr);
    })().catch((e: unknown) => e);
    assert.deepEqual(seen, [1, 2]);
    assert.ok(err instanceof SidecarError && err.codeName === 'CASSANDRA_UNAVAILABLE' && err.retryable);
  });

  test('a stream fails with ConnectionError when the connection drops', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        c.send({ id: req['id'], events: [record(1)] });
        setTimeout(() => c.socket.destroy(), 20);
      },
    });
    const c = await client(t, f);
    const seen: unknown[] = [];
    await assert.rejects(async () => {
      for await (const e of c.journal('j').read()) seen.push(e.seqNr);
    }, ConnectionError);
    assert.deepEqual(seen, [1]);
  });

  test('a stream that stays silent fails with the local deadline and is cancelled', async (t) => {
    const f = await fake(t, { onFrame: (c, req) => req['op'] === 'cancel' && c.error(req['id'] as number, Code.CANCELLED, 'cancelled') });
    const c = await client(t, f, { timeoutMs: 50, localDeadlineMarginMs: 50 });
    await assert.rejects(async () => {
      for await (const _ of c.journal('j').read()) assert.fail('no events');
    }, TimeoutError);
    await until(() => c.inFlight === 0);
    assert.deepEqual(
      f.received.map((r) => r['op']),
      ['read', 'cancel'],
    );
    assert.equal(c.inFlight, 0);
  });

  test('a record this client cannot decode fails the stream, cancels it, and spares the connection', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        if (req['op'] === 'read') c.send({ id: req['id'], events: [record(1, { payload_type: 'binary', payload: 'not bytes' })] });
        else if (req['op'] === 'cancel') c.error(req['id'] as number, Code.CANCELLED, 'cancelled');
        else c.send({ id: req['id'] });
      },
    });
    const c = await client(t, f);
    await assert.rejects(async () => {
      for await (const _ of c.journal('j').read()) assert.fail('no events');
    }, BadReplyError);
    await c.ping();
    assert.deepEqual(
      f.received.map((r) => r['op']),
      ['read', 'cancel', 'ping'],
    );
  });

  test('a "__proto__" key in a record fails only that stream', async (t) => {
    // Hand-encoded: {"id": <id>, "events": [{"__proto__": 1}]}
    const f = await fake(t, {
      onFrame: (c, req) => {
        const id = req['id'] as number;
        if (req['op'] === 'read') {
          c.sendBody(Buffer.concat([Buffer.from([0x82, 0xa2, 0x69, 0x64, id]), encode('events'), Buffer.from([0x91, 0x81]), encode('__proto__'), Buffer.from([1])]));
        } else if (req['op'] === 'cancel') c.error(id, Code.CANCELLED, 'cancelled');
        else c.send({ id });
      },
    });
    const c = await client(t, f);
    await assert.rejects(async () => {
      for await (const _ of c.journal('j').read()) assert.fail('no events');
    }, BadReplyError);
    await c.ping();
    assert.equal(c.isClosed, false);
  });

  test('records decode to EventRecord with camelCase keys', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        c.send({
          id: req['id'],
          events: [record(1, { payload: 'hi', payload_type: 'text', tags: ['a'], headers: { h: 'v' }, expire_after_ms: 5, metadata: { m: 1 } })],
        });
        c.send({ id: req['id'], end: true, highest_seq_nr: null });
      },
    });
    const c = await client(t, f);
    const got: EventRecord[] = [];
    for await (const e of c.journal('j').read()) got.push(e);
    assert.deepStrictEqual(got[0], {
      seqNr: 1,
      tags: ['a'],
      payload: 'hi',
      payloadType: 'text',
      timestamp: 0,
      partition: 0,
      offset: 1,
      origin: null,
      version: null,
      metadata: { m: 1 },
      expireAfterMs: 5,
      payloadMetadata: null,
      headers: { h: 'v' },
    });
  });
});

describe('arguments are checked before anything is sent', () => {
  test('TypeError and RangeError, and no frame', async (t) => {
    const f = await fake(t, { onFrame: (c, req) => c.send({ id: req['id'] }) });
    const c = await client(t, f);
    const j = c.journal('j');
    const any = (v: unknown) => v as never;
    assert.throws(() => c.journal(''), RangeError);
    assert.throws(() => c.journal(any(42)), TypeError);
    assert.throws(() => c.journal('j', { topic: 'bad topic' }), RangeError);
    assert.throws(() => c.journal('j', { topic: '..' }), RangeError);
    const cases: [() => Promise<unknown>, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor][] = [
      [() => j.append([]), RangeError],
      [() => j.append(any('events')), TypeError],
      [() => j.append([{ seqNr: 0 }]), RangeError],
      [() => j.append([{ seqNr: 2 ** 53 }]), RangeError], // unsafe number: pass a bigint
      [() => j.append([{ seqNr: 2n ** 63n }]), RangeError],
      [() => j.append([{ seqNr: 1.5 }]), RangeError],
      [() => j.append([{ seqNr: any('1') }]), TypeError],
      [() => j.append([{ seqNr: 3 }, { seqNr: 2 }]), RangeError],
      [() => j.append([{ seqNr: 1, tags: any('tag') }]), TypeError],
      [() => j.append([{ seqNr: 1, payload: any(() => 1) }]), TypeError],
      [() => j.append([{ seqNr: 1, payload: Infinity }]), RangeError],
      [() => j.append([{ seqNr: 1, payload: 2n ** 64n }]), RangeError],
      [() => j.append([{ seqNr: 1, payload: any(new Uint16Array(1)) }]), TypeError],
      [() => j.append([{ seqNr: 1, payload: any({ a: undefined, b: [undefined] }) }]), TypeError],
      [() => j.append([{ seqNr: 1, payload: any(new (class X {})()) }]), TypeError],
      [() => j.append([{ seqNr: 1, payload: 'lone \ud800' }]), RangeError],
      [() => j.append([{ seqNr: 1 }], { expireAfterMs: 0 }), RangeError],
      [() => j.append([{ seqNr: 1 }], { expireAfterMs: 2 ** 53 }), RangeError],
      [() => j.append([{ seqNr: 1 }], { headers: any([['a', 'b']]) }), TypeError],
      [() => j.append([{ seqNr: 1 }], { timeoutMs: 2 ** 31 }), RangeError],
      [() => j.pointer({ timeoutMs: -1 }), RangeError],
      [() => j.delete(0), RangeError],
      [() => j.delete(any(undefined)), TypeError],
      [() => j.delete(-1n), RangeError],
      [() => c.ping({ timeoutMs: 0.5 }), RangeError],
    ];
    for (const [call, cls] of cases) await assert.rejects(call(), cls, call.toString());
    assert.throws(() => j.read({ from: 0 }), RangeError);
    assert.throws(() => j.read({ to: any('5') }), TypeError);
    assert.throws(() => j.read({ max: 0 }), RangeError);
    assert.throws(() => j.read({ bufferSize: 0 }), RangeError);
    await c.ping();
    assert.deepEqual(
      f.received.map((r) => r['op']),
      ['ping'],
    );
  });

  test('JSON: undefined properties are dropped, keys sorted, big integral numbers sent as integers', async (t) => {
    const f = await fake(t, { onFrame: (c, req) => c.send({ id: req['id'], partition: 0, offset: 0 }) });
    const c = await client(t, f);
    await c.journal('j').append([{ seqNr: 1, payload: { b: 1, a: undefined, c: 2 ** 60, d: 1e300, e: 0.5 } }], { headers: { z: '1', y: '2' } });
    const ev = (f.received[0]!['events'] as Record<string, unknown>[])[0]!;
    assert.deepStrictEqual(ev['payload'], { b: 1, c: 2n ** 60n, d: 1e300, e: 0.5 });
    assert.deepEqual(Object.keys(f.received[0]!['headers'] as object), ['y', 'z']);
  });
});

describe('read streams (fake), manual iteration', () => {
  test('next() calls made without waiting are served in order', async (t) => {
    const f = await fake(t, {
      onFrame: (c, req) => {
        if (req['op'] !== 'read') return;
        c.send({ id: req['id'], events: [record(1), record(2)] });
        c.send({ id: req['id'], end: true, highest_seq_nr: 2 });
      },
    });
    const c = await client(t, f);
    const s = c.journal('j').read();
    const it = s[Symbol.asyncIterator]();
    const [a, b, end, after] = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
    assert.deepEqual(
      [a.value?.seqNr, b.value?.seqNr, end.done, after.done],
      [1, 2, true, true],
    );
    assert.equal(s.highestSeqNr, 2);
  });

  test('read({ max }) asks for no more credit than max', async (t) => {
    const f = await fake(t, { onFrame: (c, req) => c.send({ id: req['id'], end: true, highest_seq_nr: null }) });
    const c = await client(t, f);
    for await (const _ of c.journal('j').read({ max: 3 }));
    for await (const _ of c.journal('j').read({ max: 2n ** 62n, bufferSize: 5 }));
    assert.deepEqual(
      f.received.map((r) => [r['max'], r['credit']]),
      [
        [3, 3],
        [2n ** 62n, 5],
      ],
    );
    assert.throws(() => c.journal('j').read({ max: {} as never }), TypeError);
  });
});
