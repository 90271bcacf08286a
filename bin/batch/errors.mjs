// The typed errors of `equivariant batch` and `equivariant worker`: subclasses of the library's
// EquivariantError, so the command line prints them as `Name: message` and scripts can tell
// them apart. Each message says what was wrong and what was expected.
import * as eq from '../../dist/index.js';

/** Base class of the batch command's own errors. */
export class BatchError extends eq.EquivariantError {}

/** A missing or malformed command-line option. */
export class UsageError extends BatchError {}

/** The input cannot be read as a data set (format, dtype, truncation, --tensor). */
export class InputError extends BatchError {}

/** The input's items do not have the shape the model takes. */
export class ItemShapeError extends InputError {}

/** The output (or the resume state beside it) cannot be written, or would overwrite something. */
export class OutputError extends BatchError {}

/** Partial results beside the output belong to a different run (other model, input or --batch). */
export class StateMismatchError extends OutputError {}

/** Another process is writing the same output, or collecting the same queued job. */
export class BusyError extends BatchError {}

/** Redis cannot be reached, or was lost for too long during a job. */
export class QueueConnectionError extends BatchError {}

/** A queued job of this name has already finished (its output was written). */
export class JobFinishedError extends BatchError {}

/** A queued job of this name exists with another model, input or chunk size. */
export class JobMismatchError extends BatchError {}

/** A worker could not load a job's model (blob missing or damaged, or the loader refused it). */
export class ModelLoadError extends BatchError {}

/** A chunk's input in Redis is missing or does not match its SHA-256. */
export class CorruptInputError extends BatchError {}

/** A chunk's result does not match its SHA-256, its item count or the model's output shape. */
export class CorruptResultError extends BatchError {}

/**
 * Some chunks failed: `failures` lists `{ chunk, first, last, error, message, attempts }`
 * (items `first..last`, inclusive). The chunks that succeeded are kept for a rerun.
 */
export class ChunkFailedError extends BatchError {
  constructor(message, failures) {
    super(message);
    this.failures = failures;
  }
}

/** `Name: message` of any error, for logs and for BullMQ's failedReason (which keeps only text). */
export const describeError = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
