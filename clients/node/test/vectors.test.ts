// protocol/testdata/vectors.json: every frame decodes to its meaning, every request the vectors show is
// what this client's encoder writes, the encoder refuses what the sidecar rejects, and the frame
// reader rejects the invalid frames. No sidecar needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FrameReader,
  FrameTooLargeError,
  decodeBody,
  decodeReply,
  encodeFrame,
  encodeRequest,
  fromWireJson,
  replyId,
  toWire,
  type Request,
} from '../src/wire.js';
import { BadReplyError, Code, ERROR_CLASSES, SidecarError } from '../src/index.js';
import { VECTORS, body, camel, fromNotation, hex, ordered, type Vector } from './helpers.js';

const requests = VECTORS.vectors.filter((v) => v.direction === 'request');
const replies = VECTORS.vectors.filter((v) => v.direction === 'reply');

describe('vectors: every frame decodes to its meaning', () => {
  for (const v of VECTORS.vectors) {
    test(v.name, () => {
      const frame = hex(v.hex);
      assert.equal(frame.readUInt32BE(0), frame.length - 4, 'length prefix');
      const reader = new FrameReader();
      const bodies = reader.push(frame);
      assert.equal(bodies.length, 1);
      const decoded = fromWireJson(decodeBody(bodies[0]!));
      // ordered(): compares map keys in wire order too.
      assert.deepStrictEqual(ordered(decoded), ordered(fromNotation(v.decoded)));
    });
  }
});

// The request of a vector in the client's terms: what a caller would pass to build the same frame.
function requestOf(v: Vector): { id: number; request: Request } {
  const d = fromNotation(v.decoded) as Record<string, unknown>;
  const r: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(d)) {
    if (k === 'id' || e === null || k === 'future_field') continue;
    if (k === 'events') {
      r['events'] = (e as Record<string, unknown>[]).map((ev) => {
        const out: Record<string, unknown> = {};
        for (const [ek, ee] of Object.entries(ev)) out[camel(ek)] = ee;
        return out;
      });
    } else r[camel(k)] = e;
  }
  return { id: Number(d['id']), request: r as unknown as Request };
}

describe('vectors: the client encodes every request as the Go encoder does', () => {
  for (const v of requests) {
    test(v.name, () => {
      const { id, request } = requestOf(v);
      const want = v.canonical ? v.hex : v.canonical_hex;
      assert.ok(want, 'a non-canonical vector has canonical_hex');
      assert.equal(encodeRequest(id, request).toString('hex'), want);
    });
  }
});

// What the client makes of a reply, with the vector's snake_case keys camelCased.
function expectedReply(v: Vector): unknown {
  const d = fromNotation(v.decoded) as Record<string, unknown>;
  const small = (x: unknown) => (typeof x === 'bigint' && x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(x) : x);
  if ('error' in d) return 'error';
  switch (v.op) {
    case 'hello': {
      const out: Record<string, unknown> = {};
      for (const k of ['version', 'server', 'max_frame_bytes', 'max_in_flight', 'default_topic', 'default_timeout_ms']) out[camel(k)] = d[k];
      return { kind: 'hello', info: out };
    }
    case 'append':
    case 'purge':
      return { kind: 'result', result: { partition: d['partition'], offset: small(d['offset']) } };
    case 'delete':
      return { kind: 'result', result: d['partition'] === null ? null : { partition: d['partition'], offset: small(d['offset']) } };
    case 'pointer':
      return { kind: 'result', result: small(d['seq_nr']) };
    case 'ping':
      return { kind: 'result', result: undefined };
    case 'save_snapshot':
      return { kind: 'result', result: small(d['timestamp']) };
    case 'delete_snapshots':
      return { kind: 'result', result: d['deleted'] };
    case 'load_snapshot': {
      const sn = d['snapshot'] as Record<string, unknown> | null;
      if (sn === null) return { kind: 'result', result: null };
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(sn)) out[camel(k)] = k === 'seq_nr' || k === 'timestamp' ? small(x) : x;
      return { kind: 'result', result: out };
    }
    case 'read':
    case 'subscribe':
    case 'subscribe_all':
      if (d['end'] === true) return { kind: 'end', highestSeqNr: small(d['highest_seq_nr']) };
      return {
        kind: 'events',
        events: (d['events'] as Record<string, unknown>[]).map((e) => {
          const out: Record<string, unknown> = {};
          for (const [k, x] of Object.entries(e)) out[camel(k)] = k === 'seq_nr' || k === 'offset' || k === 'timestamp' ? small(x) : x;
          return out;
        }),
      };
    default:
      throw new Error(`no reply decoding for op ${v.op}`);
  }
}

describe('vectors: replies decode to what the client returns', () => {
  for (const v of replies) {
    test(v.name, () => {
      const b = decodeBody(body(v.hex));
      const reply = decodeReply(v.op as Request['op'], b);
      const want = expectedReply(v);
      if (want === 'error') {
        const e = (v.decoded as { id: number; error: { code: number; message: string; retryable: boolean } }).error;
        assert.equal(reply.kind, 'error');
        if (reply.kind !== 'error') return;
        assert.ok(reply.error instanceof SidecarError);
        assert.ok(reply.error instanceof ERROR_CLASSES.get(e.code)!);
        assert.equal(reply.error.code, e.code);
        assert.equal(reply.error.message, e.message);
        assert.equal(reply.error.retryable, e.retryable);
        assert.equal(reply.error.highestSeqNr, (e as { highest_seq_nr?: number }).highest_seq_nr ?? null);
        assert.equal(replyId(b), v.decoded['id']);
        return;
      }
      assert.deepStrictEqual(reply, want);
      assert.equal(replyId(b), v.decoded['id']);
    });
  }

  test('seq_nr 2^63-1 comes back as a bigint, small ones as numbers', () => {
    const v = replies.find((r) => r.name === 'read-events-seq-nr-max')!;
    const reply = decodeReply('read', decodeBody(body(v.hex)));
    assert.equal(reply.kind, 'events');
    if (reply.kind !== 'events') return;
    assert.equal(reply.events[0]!.seqNr, 2n ** 63n - 1n);
    assert.equal(typeof reply.events[0]!.offset, 'number');
  });

  test('integers sent in 64-bit encodings come back as numbers when safe', () => {
    // {"id": cf 00..07, "seq_nr": d3 00..2a}: a pointer reply with oversized encodings.
    const b = Buffer.from('82a26964cf0000000000000007a67365715f6e72d3000000000000002a', 'hex');
    const body = decodeBody(b);
    assert.equal(replyId(body), 7);
    assert.deepStrictEqual(decodeReply('pointer', body), { kind: 'result', result: 42 });
  });
});

// How the client refuses to build each invalid request of the vectors: a call that would produce the
// same mistake, which must throw before anything is encoded. Listed by name, so that a new vector
// fails this test until it is covered.
const j = { journal: 'j' } as const;
const e1 = [{ seqNr: 1 }];
const refusals: Record<string, () => unknown> = {
  'missing-id': () => encodeFrame(undefined as unknown as number, toWire({ op: 'ping' })),
  'id-zero': () => encodeRequest(0, { op: 'ping' }),
  'id-too-large': () => encodeRequest(2 ** 53, { op: 'ping' }),
  'id-negative': () => encodeRequest(-1, { op: 'ping' }),
  'id-string': () => encodeRequest('1' as unknown as number, { op: 'ping' }),
  'id-float': () => encodeRequest(1.5, { op: 'ping' }),
  'missing-op': () => toWire({} as Request),
  'unknown-op': () => toWire({ op: 'fly' } as unknown as Request),
  'op-not-string': () => toWire({ op: 1 } as unknown as Request),
  'hello-no-versions': () => toWire({ op: 'hello' } as unknown as Request),
  'hello-empty-versions': () => toWire({ op: 'hello', versions: [] }),
  'append-seq-nr-zero': () => toWire({ op: 'append', ...j, events: [{ seqNr: 0 }] }),
  'append-seq-nr-negative': () => toWire({ op: 'append', ...j, events: [{ seqNr: -1 }] }),
  'append-seq-nr-2^63': () => toWire({ op: 'append', ...j, events: [{ seqNr: 2n ** 63n }] }),
  'append-seq-nr-string': () => toWire({ op: 'append', ...j, events: [{ seqNr: '1' as unknown as number }] }),
  'append-seq-nr-float': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1.5 }] }),
  'append-seq-nr-missing': () => toWire({ op: 'append', ...j, events: [{ tags: [] } as unknown as { seqNr: number }] }),
  'append-not-increasing': () => toWire({ op: 'append', ...j, events: [{ seqNr: 2 }, { seqNr: 1 }] }),
  'append-duplicate-seq-nr': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1 }, { seqNr: 1n }] }),
  'append-empty-events': () => toWire({ op: 'append', ...j, events: [] }),
  'append-no-events': () => toWire({ op: 'append', ...j } as unknown as Request),
  'append-event-not-map': () => toWire({ op: 'append', ...j, events: [1 as unknown as { seqNr: number }] }),
  'append-no-journal': () => toWire({ op: 'append', events: e1 } as unknown as Request),
  'append-empty-journal': () => toWire({ op: 'append', journal: '', events: e1 }),
  'append-journal-not-utf8': () => toWire({ op: 'append', journal: 'j\ud800', events: e1 }),
  'append-journal-binary': () => toWire({ op: 'append', journal: new Uint8Array([0x6a]) as unknown as string, events: e1 }),
  'append-topic-illegal': () => toWire({ op: 'append', ...j, topic: 'no spaces!', events: e1 }),
  'append-topic-not-utf8': () => toWire({ op: 'append', ...j, topic: '\udfff', events: e1 }),
  'append-binary-as-json': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: new Uint8Array([1]), payloadType: 'json' }] }),
  'append-binary-as-text': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: new Uint8Array([1]), payloadType: 'text' }] }),
  'append-string-as-binary': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: 'x', payloadType: 'binary' }] }),
  'append-unknown-payload-type': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: 'x', payloadType: 'xml' as 'text' }] }),
  'append-text-without-payload': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payloadType: 'text' }] }),
  'append-json-with-binary-inside': () =>
    toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: { b: new Uint8Array([1]) } as unknown as null }] }),
  'append-json-with-ext': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: new Date(0) as unknown as null }] }),
  'append-json-nan': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: NaN }] }),
  'append-json-integer-key': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: new Map([[1, 1]]) as unknown as null }] }),
  // A JavaScript object cannot hold a key twice; the nearest mistake is a Map passed as an object.
  'append-json-duplicate-key': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: new Map([['a', 1]]) as unknown as null }] }),
  'append-json-too-deep': () => {
    let deep: unknown = 0;
    for (let i = 0; i < 129; i++) deep = [deep];
    return toWire({ op: 'append', ...j, events: [{ seqNr: 1, payload: deep as null, payloadType: 'json' }] });
  },
  'append-tag-not-string': () => toWire({ op: 'append', ...j, events: [{ seqNr: 1, tags: [1 as unknown as string] }] }),
  'append-header-not-string': () => toWire({ op: 'append', ...j, events: e1, headers: { h: 1 as unknown as string } }),
  'append-expire-after-zero': () => toWire({ op: 'append', ...j, events: e1, expireAfterMs: 0 }),
  'read-no-credit': () => toWire({ op: 'read', ...j } as unknown as Request),
  'read-credit-too-large': () => toWire({ op: 'read', ...j, credit: 2 ** 31 }),
  'read-from-zero': () => toWire({ op: 'read', ...j, credit: 1, from: 0 }),
  'read-max-zero': () => toWire({ op: 'read', ...j, credit: 1, max: 0 }),
  'read-timeout-zero': () => toWire({ op: 'read', ...j, credit: 1, timeoutMs: 0 }),
  'delete-no-to': () => toWire({ op: 'delete', ...j } as unknown as Request),
  'delete-to-zero': () => toWire({ op: 'delete', ...j, to: 0 }),
  'pointer-journal-nil': () => toWire({ op: 'pointer', journal: null as unknown as string }),
  'append-expected-negative': () => toWire({ op: 'append', ...j, events: e1, expectedSeqNr: -1 }),
  'append-expected-string': () => toWire({ op: 'append', ...j, events: e1, expectedSeqNr: '1' as unknown as number }),
  'save-snapshot-no-seq-nr': () => toWire({ op: 'save_snapshot', ...j, seqNr: undefined as unknown as number }),
  'save-snapshot-seq-nr-zero': () => toWire({ op: 'save_snapshot', ...j, seqNr: 0 }),
  'save-snapshot-binary-as-text': () => toWire({ op: 'save_snapshot', ...j, seqNr: 1, payload: new Uint8Array([1]), payloadType: 'text' }),
  'save-snapshot-timestamp-float': () => toWire({ op: 'save_snapshot', ...j, seqNr: 1, timestamp: 1.5 }),
  'load-snapshot-no-journal': () => toWire({ op: 'load_snapshot', journal: undefined as unknown as string }),
  'load-snapshot-max-seq-nr-negative': () => toWire({ op: 'load_snapshot', ...j, maxSeqNr: -1 }),
  'delete-snapshots-seq-nr-zero': () => toWire({ op: 'delete_snapshots', ...j, seqNr: 0 }),
  'credit-zero': () => toWire({ op: 'credit', n: 0 }),
  'credit-no-n': () => toWire({ op: 'credit' } as unknown as Request),
  'cancel-id-zero': () => encodeRequest(0, { op: 'cancel' }),
  'subscribe-no-credit': () => toWire({ op: 'subscribe', ...j } as unknown as Request),
  'subscribe-from-zero': () => toWire({ op: 'subscribe', ...j, credit: 1, from: 0 }),
  'subscribe-no-journal': () => toWire({ op: 'subscribe', credit: 1 } as unknown as Request),
  'subscribe-all-bad-from': () => toWire({ op: 'subscribe_all', credit: 1, from: 'middle' as 'latest' }),
  'subscribe-all-offsets-not-array': () => toWire({ op: 'subscribe_all', credit: 1, offsets: {} as unknown as [] }),
  'subscribe-all-offset-negative': () => toWire({ op: 'subscribe_all', credit: 1, offsets: [{ partition: 0, offset: -1 }] }),
  'subscribe-all-partition-twice': () =>
    toWire({ op: 'subscribe_all', credit: 1, offsets: [{ partition: 1, offset: 5 }, { partition: 1, offset: 6 }] }),
  'subscribe-all-no-credit': () => toWire({ op: 'subscribe_all' } as unknown as Request),
};

describe('vectors: invalid requests', () => {
  for (const v of VECTORS.invalid_requests) {
    test(v.name, () => {
      if (v.code === Code.BAD_FRAME) {
        // Malformed bodies: the encoder writes one map with string keys from a JavaScript object, so it
        // cannot produce them; the same body from the sidecar must not decode either. A duplicate key
        // is the exception: @msgpack/msgpack keeps the last value (PROTOCOL.md lets a client not check).
        if (v.name === 'duplicate-key') assert.doesNotThrow(() => decodeBody(body(v.hex)));
        else assert.throws(() => decodeBody(body(v.hex)), BadReplyError);
        return;
      }
      const refuse = refusals[v.name];
      assert.ok(refuse, `no refusal listed for the invalid request ${v.name}`);
      assert.throws(refuse, (err: unknown) => err instanceof TypeError || err instanceof RangeError, 'the client must refuse it before sending');
    });
  }
});

describe('vectors: invalid frames', () => {
  for (const v of VECTORS.invalid_frames) {
    test(v.name, () => {
      const reader = new FrameReader(v.max_frame_bytes);
      const bytes = hex(v.hex);
      if (v.code === Code.FRAME_TOO_LARGE) {
        assert.throws(() => reader.push(bytes), FrameTooLargeError);
        // Also when the prefix arrives one byte at a time.
        const slow = new FrameReader(v.max_frame_bytes);
        assert.throws(() => {
          for (const b of bytes) slow.push(Uint8Array.of(b));
        }, FrameTooLargeError);
        return;
      }
      // Cut short: no frame, bytes left over when the peer closes.
      assert.deepStrictEqual(reader.push(bytes), []);
      assert.ok(reader.buffered > 0);
    });
  }
});

test('frame reader: frames split and joined across chunks in every way', () => {
  const frames = requests.slice(0, 6).map((v) => hex(v.hex));
  const all = Buffer.concat(frames);
  for (let cut = 0; cut <= all.length; cut += 7) {
    const r = new FrameReader();
    const got = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
    assert.deepStrictEqual(
      got.map((g) => g.toString('hex')),
      frames.map((f) => f.subarray(4).toString('hex')),
    );
    assert.equal(r.buffered, 0);
  }
  const r = new FrameReader();
  const got: Buffer[] = [];
  for (const b of all) got.push(...r.push(Uint8Array.of(b)));
  assert.equal(got.length, frames.length);
});
