/**
 * The error class of the checkpoint I/O layer.
 *
 * @module
 */

/**
 * Thrown for every problem caused by the input: a malformed or inconsistent
 * safetensors file, a bad `config.json` or index, a missing shard, an unsafe
 * output folder. The message is a plain sentence that names the file or tensor
 * and the offending value, so a command-line tool can print it as is.
 *
 * @example Telling input errors apart from bugs
 * ```ts
 * import { CheckpointError } from "./errors.ts";
 *
 * try {
 *   throw new CheckpointError('Cannot read "model.safetensors": file not found');
 * } catch (e) {
 *   if (!(e instanceof CheckpointError)) throw e;
 *   console.error(e.message);
 * }
 * ```
 */
export class CheckpointError extends Error {
  /** Always `"CheckpointError"`. */
  override name: string = "CheckpointError";

  /**
   * Creates the error.
   *
   * @param message A sentence naming the file or tensor and the offending value.
   * @param options Standard error options, such as the underlying `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
