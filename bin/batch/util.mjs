// Small helpers shared by the batch modules.
import { createHash } from 'node:crypto';

/** Hex SHA-256 of bytes. */
export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A shape as `[a, b, c]`. */
export const fmt = (dims) => `[${dims.join(', ')}]`;
