// A scripted stand-in for the sidecar, for the client behaviours a healthy sidecar never shows
// (dropped connections, silence, malformed replies, unknown codes). The real sidecar is tested in
// ops/stream/tck/wire.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { FrameReader, decodeBody, fromWireJson, frame, type Body } from '../src/wire.js';

export const HELLO_REPLY = {
  version: 1,
  server: 'fake/0',
  max_frame_bytes: 16 * 1024 * 1024,
  max_in_flight: 8,
  default_topic: 'journal',
  default_timeout_ms: 30_000,
};

export class FakeConn {
  readonly frames: Body[] = [];
  constructor(readonly socket: Socket) {}
  send(body: Record<string, unknown>): void {
    this.sendBody(encode(body, { useBigInt64: true }));
  }
  sendBody(body: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(frame(body));
  }
  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }
  error(id: number, code: number, message = 'test', retryable = false): void {
    this.send({ id, error: { code, message, retryable } });
  }
}

export interface FakeOptions {
  /** What to answer hello with: a reply map, or a function that answers itself; default HELLO_REPLY. */
  hello?: Record<string, unknown> | ((c: FakeConn, req: Body) => void);
  /** Called for every frame after hello. */
  onFrame?: (c: FakeConn, req: Body) => void;
  /** Called when a client connects, before anything is read. */
  onConnect?: (c: FakeConn) => void;
}

export class FakeSidecar {
  readonly conns: FakeConn[] = [];
  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly server: Server,
  ) {}

  static async start(o: FakeOptions = {}): Promise<FakeSidecar> {
    const dir = mkdtempSync(join(tmpdir(), 'kj-fake-'));
    const path = join(dir, 'sock');
    const server = createServer();
    const fake = new FakeSidecar(path, dir, server);
    server.on('connection', (socket) => {
      const c = new FakeConn(socket);
      fake.conns.push(c);
      socket.on('error', () => {});
      const reader = new FrameReader();
      let helloDone = false;
      socket.on('data', (chunk: Buffer) => {
        for (const b of reader.push(chunk)) {
          const req = fromWireJson(decodeBody(b)) as Body;
          c.frames.push(req);
          if (!helloDone && req['op'] === 'hello') {
            helloDone = true;
            if (typeof o.hello === 'function') o.hello(c, req);
            else c.send({ id: req['id'], ...(o.hello ?? HELLO_REPLY) });
            continue;
          }
          o.onFrame?.(c, req);
        }
      });
      o.onConnect?.(c);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return fake;
  }

  /** Every frame received after hello, on every connection. */
  get received(): Body[] {
    return this.conns.flatMap((c) => c.frames.filter((f) => f['op'] !== 'hello'));
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
