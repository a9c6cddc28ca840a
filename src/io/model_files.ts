/**
 * Opening a model folder: checkpoint, parsed configuration and tokenizer.
 *
 * @module
 */

import { join } from "node:path";
import { TextTokenizer } from "../data/tokenizer.ts";
import { type ModelConfig, parseModelConfig } from "../models/config.ts";
import { CheckpointReader } from "./checkpoint.ts";
import { CheckpointError } from "./errors.ts";

/**
 * An opened model folder.
 *
 * @example Open a model folder
 * ```ts
 * import { type ModelFolder, openModel } from "@sparsellm/sparsellm/io";
 *
 * const { reader, config }: ModelFolder = await openModel("testdata/models/llama-small");
 * try {
 *   console.log(config.modelType, config.numLayers, reader.names().length);
 * } finally {
 *   reader.close();
 * }
 * ```
 */
export interface ModelFolder {
  /** The checkpoint (a `WeightSource`). */
  reader: CheckpointReader;
  /** The parsed configuration. */
  config: ModelConfig;
}

/**
 * Opens a checkpoint folder and validates its `config.json`.
 *
 * @example Load a model for evaluation
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { CausalLM } from "../models/model.ts";
 * import { openModel } from "@sparsellm/sparsellm/io";
 *
 * const { reader, config } = await openModel("testdata/models/opt-tiny");
 * const model = await CausalLM.load(await getGpu(), reader, config);
 * ```
 */
export async function openModel(dir: string): Promise<ModelFolder> {
  const reader = await CheckpointReader.open(dir);
  try {
    const config = parseModelConfig(reader.config, join(dir, "config.json"));
    // A config with fewer layers than the weights would leave the extra layers silently dense.
    for (const name of reader.names()) {
      const m = /(?:^|\.)layers\.(\d+)\./.exec(name);
      if (m && Number(m[1]) >= config.numLayers) {
        throw new CheckpointError(
          `"${join(dir, "config.json")}" says the model has ${config.numLayers} layers, but the ` +
            `weights hold layer ${m[1]} ("${name}"); the config and the weights disagree`,
        );
      }
    }
    return { reader, config };
  } catch (e) {
    reader.close();
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError((e as Error).message, { cause: e });
  }
}

/**
 * Loads `tokenizer.json` (and `tokenizer_config.json` when present) of a model folder.
 *
 * @example Tokenize a sentence
 * ```ts
 * import { loadTokenizer } from "@sparsellm/sparsellm/io";
 *
 * const tokenizer = await loadTokenizer("testdata/models/opt-tiny");
 * const ids = tokenizer.encode("In the beginning God created the heaven and the earth.");
 * ```
 */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = join(dir, "tokenizer.json");
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`Cannot tokenize: "${path}" does not exist`);
    }
    throw new CheckpointError(`Cannot read "${path}": ${(e as Error).message}`);
  }
  let cfg: unknown = undefined;
  try {
    cfg = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer_config.json")));
  } catch { /* optional */ }
  let tokenizer: TextTokenizer;
  try {
    tokenizer = new TextTokenizer(json, cfg);
  } catch (e) {
    throw new CheckpointError(`Cannot load the tokenizer "${path}": ${(e as Error).message}`);
  }
  if (tokenizer.vocabSize === 0) {
    // Otherwise every text would be reported as holding 0 tokens, blaming the text.
    throw new CheckpointError(
      `The tokenizer "${path}" has an empty vocabulary: it cannot turn any text into tokens`,
    );
  }
  // Ids past the embedding rows would be looked up out of range: the tokenizer and the model must
  // agree (problems of config.json itself are reported by openModel).
  const cfgPath = join(dir, "config.json");
  let modelVocab: number | undefined;
  try {
    modelVocab = parseModelConfig(JSON.parse(await Deno.readTextFile(cfgPath)), cfgPath).vocabSize;
  } catch { /* reported where the model is opened */ }
  if (modelVocab !== undefined && tokenizer.vocabSize > modelVocab) {
    throw new CheckpointError(
      `The tokenizer "${path}" produces ids up to ${tokenizer.vocabSize - 1}, but "${cfgPath}" ` +
        `has vocab_size ${modelVocab}: the tokenizer and the model disagree`,
    );
  }
  return tokenizer;
}

/**
 * The default sequence length: the model's maximum positions, at most 2048.
 *
 * @example Window length of a model
 * ```ts
 * import { defaultSeqlen, openModel } from "@sparsellm/sparsellm/io";
 *
 * const { reader, config } = await openModel("testdata/models/opt-tiny");
 * console.log(defaultSeqlen(config)); // 256: opt-tiny has 256 positions
 * reader.close();
 * ```
 */
export function defaultSeqlen(config: ModelConfig): number {
  return Math.min(config.maxPositions, 2048);
}
