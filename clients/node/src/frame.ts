/**
 * Framing: a 4-byte big-endian length, then exactly one msgpack body of that many bytes
 * (PROTOCOL.md, "Frames"). Sans-IO: {@link FrameReader} takes bytes as they arrive and hands out
 * bodies; {@link frame} builds the bytes of one frame.
 *
 * @module
 */

/** The largest body either side sends until hello announced `max_frame_bytes` (16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The length prefix announced a body larger than the reader's limit; the stream cannot be resynchronised. */
export class FrameTooLargeError extends RangeError {
  constructor(
    readonly length: number,
    readonly maxFrameBytes: number,
  ) {
    super(`frame length ${length} exceeds max_frame_bytes ${maxFrameBytes}`);
  }
}
Object.defineProperty(FrameTooLargeError.prototype, 'name', { value: 'FrameTooLargeError', configurable: true, writable: true });

/**
 * Splits a byte stream into frame bodies. The length prefix is checked against `maxFrameBytes` before
 * the body is buffered. Chunks are kept as they come and joined once per frame, so a large frame
 * arriving in many chunks is copied once.
 */
export class FrameReader {
  /** The largest body accepted; a longer prefix makes {@link push} throw {@link FrameTooLargeError}. */
  maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private size = 0; // bytes held in chunks
  private need = -1; // body length of the frame being read, -1 while its prefix is incomplete
  private failed: FrameTooLargeError | undefined;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received that do not make a whole frame yet: non-zero when the peer closes mid-frame. */
  get buffered(): number {
    return this.size;
  }

  /** Adds received bytes and returns the bodies of the frames they complete, in order. */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failed) throw this.failed;
    if (chunk.byteLength > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.size += chunk.byteLength;
    }
    const bodies: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.size < 4) break;
        const length = this.take(4).readUInt32BE(0);
        if (length > this.maxFrameBytes) {
          this.failed = new FrameTooLargeError(length, this.maxFrameBytes);
          throw this.failed;
        }
        this.need = length;
      }
      if (this.size < this.need) break;
      bodies.push(this.take(this.need));
      this.need = -1;
    }
    return bodies;
  }

  // Removes and returns the first n bytes (n <= size).
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.size -= n;
    return out;
  }
}

/** The bytes of one frame: the big-endian length of `body`, then `body`. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.set(body, 4);
  return out;
}
