/**
 * kjournal: the Node client of the kjournal sidecar.
 *
 * ```ts
 * import { connect } from 'kjournal';
 * await using client = await connect(); // path: $KJOURNAL_SOCKET
 * const j = client.journal('order-42');
 * await j.append([{ seqNr: 1, payload: { a: 1 } }]);
 * for await (const e of j.read()) console.log(e.seqNr, e.payload);
 * ```
 *
 * @module
 */
export { connect, Client } from './client.js';
export { Journal } from './journal.js';
export { ReadStream, Subscription } from './read.js';
export { positionOf } from './types.js';
export { DEFAULT_OPTIONS, DEFAULT_SOCKET_PATH, type ConnectOptions } from './options.js';
export { KjournalError, SidecarError, ConnectionError, BadReplyError, type KjournalErrorFields } from './errors.js';
export * from './codes.js';
export { MAX_SEQ_NR } from './values.js';
export { PROTOCOL_VERSION } from './protocol.js';
export { VERSION } from './version.js';
export type * from './types.js';
