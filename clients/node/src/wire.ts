/**
 * `kjournal/protocol`: the sans-IO protocol layer, for tests and tools that speak to the sidecar
 * themselves: framing ({@link FrameReader}, {@link frame}), request encoding ({@link encodeRequest},
 * {@link toWire}) and reply decoding ({@link decodeBody}, {@link decodeReply}).
 *
 * @module
 */
export * from './protocol.js';
export { FrameReader, FrameTooLargeError, DEFAULT_MAX_FRAME_BYTES, frame } from './frame.js';
export { wireInt, fromWireInt, fromWireJson, compareUtf8, MAX_SEQ_NR, MAX_JSON_DEPTH } from './values.js';
