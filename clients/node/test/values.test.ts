// Argument conversions of src/values.ts: canonical integers, UTF-8 key order, tags, payload kinds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareUtf8, fromWireInt, wireInt } from '../src/wire.js';
import { jsonArg, payloadArg, tagsArg } from '../src/values.js';

test('wireInt: numbers within int32/uint32, bigints beyond; fromWireInt: numbers when safe', () => {
  assert.deepEqual([wireInt(5n), wireInt(-5n), wireInt(0xffff_ffffn), wireInt(-0x8000_0000n)], [5, -5, 0xffff_ffff, -0x8000_0000]);
  assert.deepEqual([wireInt(2 ** 32), wireInt(-(2 ** 31) - 1), wireInt(2n ** 40n)], [2n ** 32n, -(2n ** 31n) - 1n, 2n ** 40n]);
  assert.deepEqual([fromWireInt(7n), fromWireInt(2n ** 53n - 1n), fromWireInt(2n ** 53n), fromWireInt(-(2n ** 53n))], [7, 2 ** 53 - 1, 2n ** 53n, -(2n ** 53n)]);
});

test('compareUtf8 orders by code points, not UTF-16 units', () => {
  // U+FF61 sorts before U+1F600 in UTF-8, after its surrogate pair in UTF-16.
  assert.ok('\uff61' > '\u{1f600}');
  assert.ok(compareUtf8('\uff61', '\u{1f600}') < 0);
  assert.deepEqual(['b', 'a', '\u{1f600}', '\uff61', 'aa'].sort(compareUtf8), ['a', 'aa', 'b', '\uff61', '\u{1f600}']);
});

test('tags: a set, sorted by UTF-8, from any iterable', () => {
  assert.deepEqual(tagsArg(['b', 'a', 'b'], 't'), ['a', 'b']);
  assert.deepEqual(tagsArg(new Set(['\u{1f600}', '\uff61']), 't'), ['\uff61', '\u{1f600}']);
  assert.throws(() => tagsArg('ab', 't'), TypeError);
});

test('JSON: keys sorted by UTF-8, nesting limit 128', () => {
  assert.deepEqual(Object.keys(jsonArg({ b: 1, a: 2, '\u{1f600}': 3, '\uff61': 4 }, 'p') as object), ['a', 'b', '\uff61', '\u{1f600}']);
  let ok: unknown = 1;
  for (let i = 0; i < 128; i++) ok = [ok];
  assert.doesNotThrow(() => jsonArg(ok, 'p'));
  assert.throws(() => jsonArg([ok], 'p'), RangeError);
  const proto = jsonArg(JSON.parse('{"__proto__": 1}'), 'p') as Record<string, unknown>;
  assert.deepEqual(Object.keys(proto), ['__proto__'], 'a "__proto__" key stays a key');
});

test('payload kinds follow PROTOCOL.md "Payloads"', () => {
  const bytes = new Uint8Array([1]);
  const table: [unknown, unknown, unknown][] = [
    [undefined, undefined, undefined],
    [null, undefined, undefined],
    [null, 'json', [null, 'json']],
    [bytes, undefined, [bytes, 'binary']],
    [bytes, 'binary', [bytes, 'binary']],
    ['s', undefined, ['s', 'text']],
    ['s', 'text', ['s', 'text']],
    ['s', 'json', ['s', 'json']],
    [{ a: 1 }, undefined, [{ a: 1 }, 'json']],
    [[1], 'json', [[1], 'json']],
    [true, undefined, [true, 'json']],
  ];
  for (const [payload, type, want] of table) assert.deepStrictEqual(payloadArg(payload, type, 'e'), want, `${String(payload)} ${String(type)}`);
  for (const [payload, type] of [
    [null, 'binary'],
    [null, 'text'],
    [bytes, 'text'],
    [bytes, 'json'],
    ['s', 'binary'],
    [{ a: 1 }, 'binary'],
    [1, 'text'],
  ] as const) {
    assert.throws(() => payloadArg(payload, type, 'e'), TypeError, `${String(payload)} ${type}`);
  }
  assert.throws(() => payloadArg('s', 'xml', 'e'), RangeError);
});

test('every integer field above 2^32 is encoded as an integer, never a float', async () => {
  const { encodeRequest, decodeBody } = await import('../src/wire.js');
  const frame = encodeRequest(2 ** 53 - 1, {
    op: 'append',
    journal: 'j',
    events: [{ seqNr: 2 ** 40, payload: 2 ** 40 }],
    expireAfterMs: 2 ** 40,
  });
  assert.ok(!frame.includes(0xcb), 'no float 64 in the frame');
  const body = decodeBody(frame.subarray(4));
  assert.equal(body['expire_after_ms'], 2n ** 40n);
  assert.equal(body['id'], 2n ** 53n - 1n);
});
