// The package itself: the generated code table against codes.json, the version, and the built
// package as users import it (exports map, declarations).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as kjournal from '../src/index.js';
import { CODES, Code, ERROR_CLASSES, FAMILIES, SidecarError, VERSION, DEFAULT_OPTIONS } from '../src/index.js';
import { PACKAGE_ROOT, readRepoJson } from './helpers.js';

interface CodesJson {
  families: { family: string; range: string; description: string }[];
  codes: { name: string; code: number; family: string; retryable: boolean; description: string }[];
}

test('codes.ts matches protocol/codes.json', () => {
  const json = readRepoJson<CodesJson>('protocol', 'codes.json');
  assert.deepStrictEqual(
    CODES.map((c) => ({ ...c })),
    json.codes.map((c) => ({ code: c.code, name: c.name, family: c.family, retryable: c.retryable, description: c.description })),
  );
  assert.deepStrictEqual(
    FAMILIES.map((f) => [f.family, `${f.range[0]}-${f.range[1]}`, f.description]),
    json.families.map((f) => [f.family, f.range, f.description]),
  );
  for (const c of json.codes) {
    assert.equal(Code[c.name as keyof typeof Code], c.code);
    const Cls = ERROR_CLASSES.get(c.code);
    assert.ok(Cls, `a class for ${c.name}`);
    const e = new Cls('m', { code: c.code, codeName: c.name, family: c.family, retryable: c.retryable });
    assert.ok(e instanceof SidecarError);
    const want = c.name.toLowerCase().replace(/(^|_)([a-z])/g, (_, _u: string, ch: string) => ch.toUpperCase()) + 'Error';
    assert.equal(e.name, want);
    assert.equal((kjournal as Record<string, unknown>)[want], Cls, `${want} is exported`);
  }
});

test('gen-codes --check: src/codes.ts is what the generator writes', () => {
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'gen-codes.mjs'), '--check'], { stdio: 'pipe' });
});

test('VERSION is package.json version, and the hello client name carries it', () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
  assert.equal(DEFAULT_OPTIONS.clientName, `kjournal-node/${pkg.version}`);
});

test('the built package: exports resolve to dist with declarations', async () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    type: string;
    exports: Record<string, { types: string; default: string } | string>;
    dependencies: Record<string, string>;
    engines: { node: string };
  };
  assert.equal(pkg.type, 'module');
  assert.deepEqual(Object.keys(pkg.dependencies), ['@msgpack/msgpack']);
  assert.equal(pkg.engines.node, '>=20');
  for (const [sub, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue;
    assert.ok(existsSync(join(PACKAGE_ROOT, target.types)), `${sub}: ${target.types} (run npm run build)`);
    assert.ok(existsSync(join(PACKAGE_ROOT, target.default)), `${sub}: ${target.default}`);
  }
  // Self-reference by name goes through the exports map, as an installed package would.
  const name: string = 'kjournal';
  const built = (await import(name)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(built).sort(), Object.keys(kjournal).sort());
  const protocol = (await import(`${name}/protocol`)) as Record<string, unknown>;
  assert.equal(typeof protocol['encodeRequest'], 'function');
  assert.equal(typeof protocol['FrameReader'], 'function');
});
