// The opt-tiny fixture with a small calibration set, shared by the pipeline tests.

import { join } from "node:path";
import { type PruneInput, sampleCalibration, TextTokenizer } from "../../mod.ts";
import { CheckpointReader } from "../../io.ts";
import { OPT_TINY, ROOT, TRAIN_TXT } from "../_cli_helpers.ts";

/** Opens opt-tiny and samples 4 calibration windows of 64 tokens; closes the reader after. */
export async function withTiny(
  fn: (input: PruneInput, reader: CheckpointReader) => Promise<void>,
): Promise<void> {
  const dir = join(ROOT, OPT_TINY);
  const reader = await CheckpointReader.open(dir);
  try {
    const tok = new TextTokenizer(JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json"))));
    // A slice of the training text is plenty for 4 windows of 64 tokens.
    const text = (await Deno.readTextFile(join(ROOT, TRAIN_TXT))).slice(0, 20_000);
    const calibration = sampleCalibration(tok.encode(text), 4, 64, 0);
    await fn({ source: reader, config: reader.config, calibration }, reader);
  } finally {
    reader.close();
  }
}
