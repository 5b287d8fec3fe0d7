// P2 (pipelined) of `make bench`: appends/s of the Node client with many appends in flight.
//
// Run by internal/bench (the Go driver) against the built client (clients/node/dist, `make node-build`):
//
//   node append_pipelined.mjs --socket S --topic T --journal-prefix J --journals 1000 \
//     --connections 4 --count 60000 --warmup 5000
//
// One async writer per journal `<J>_<i>` (so --journals appends are in flight at once), journal i on
// connection i % --connections (a Client each), each appending single events with seq_nrs 1, 2, …
// and a random binary payload of --payload-bytes until --count appends are done in total. --warmup
// appends go first to journals `<J>w_<i>` and are not timed. Prints one JSON object on stdout:
// {"records_per_s": r, "appends": n, "client": "kjournal-node/<version>"}.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect, VERSION } from '../dist/index.js';

const { values: a } = parseArgs({
  options: {
    socket: { type: 'string' },
    topic: { type: 'string' },
    'journal-prefix': { type: 'string' },
    journals: { type: 'string' },
    connections: { type: 'string', default: '4' },
    count: { type: 'string' },
    warmup: { type: 'string', default: '0' },
    'payload-bytes': { type: 'string', default: '200' },
  },
});
for (const k of ['socket', 'topic', 'journal-prefix', 'journals', 'count']) {
  if (a[k] === undefined) throw new Error(`--${k} is required`);
}
const journals = Number(a.journals);
const payload = randomBytes(Number(a['payload-bytes']));
const clients = [];
for (let i = 0; i < Number(a.connections); i++) clients.push(await connect({ path: a.socket }));

async function run(prefix, count) {
  let left = count;
  const writer = async (i) => {
    const j = clients[i % clients.length].journal(`${prefix}_${String(i).padStart(4, '0')}`, { topic: a.topic });
    for (let seq = 1; left > 0; seq++) {
      left--;
      await j.append([{ seqNr: seq, payload }]);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: journals }, (_, i) => writer(i)));
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

try {
  await run(a['journal-prefix'] + 'w', Number(a.warmup));
  const rate = await run(a['journal-prefix'], Number(a.count));
  process.stdout.write(JSON.stringify({ records_per_s: rate, appends: Number(a.count), client: `kjournal-node/${VERSION}` }) + '\n');
} finally {
  for (const c of clients) await c.close();
}
