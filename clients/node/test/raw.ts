// A bare connection for the wire tests: frames in and out, no client logic.
import { createConnection, type Socket } from 'node:net';
import { FrameReader, decodeBody, encodeRequest, fromWireJson, type Body, type Request } from '../src/wire.js';

export class RawConn {
  readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly frames: Body[] = [];
  private waiting: (() => void) | undefined;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const b of this.reader.push(chunk)) this.frames.push(fromWireJson(decodeBody(b)) as Body);
      this.waiting?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.waiting?.();
        resolve();
      }),
    );
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path });
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  /** Opens and says hello with id 1. */
  static async ready(path: string): Promise<RawConn> {
    const c = await RawConn.open(path);
    c.request(1, { op: 'hello', versions: [1], client: 'kjournal-node-tests' });
    const reply = await c.next();
    if (reply['id'] !== 1 || 'error' in reply) throw new Error(`hello failed: ${JSON.stringify(reply)}`);
    return c;
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  request(id: number, r: Request): void {
    this.send(encodeRequest(id, r));
  }

  /** The next frame; rejects after ms, or if the connection closes first. */
  async next(ms = 10_000): Promise<Body> {
    const end = Date.now() + ms;
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.ended) throw new Error('connection closed');
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(t);
          this.waiting = undefined;
          resolve();
        };
      });
    }
  }

  /** Asserts no frame arrives within ms (returns the frame if one does). */
  async quiet(ms: number): Promise<Body | undefined> {
    try {
      return await this.next(ms);
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
