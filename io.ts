/**
 * Checkpoint I/O for sparsellm: safetensors headers, readers and writers,
 * Hugging Face checkpoint folders (single file or sharded), float32 <->
 * F16/BF16 conversion, and atomic output folders.
 *
 * Files are never loaded whole: readers read the header, then one tensor's
 * byte range at a time; writers lay the file out up front and write each
 * tensor at its offset.
 *
 * It also holds the file-level use cases built on those formats: {@linkcode pruneCheckpoint}
 * (a checkpoint folder in, a pruned folder out), {@linkcode evaluateCheckpoint} (perplexity on a
 * text file) and {@linkcode inspectCheckpoint} (what a folder holds).
 *
 * All problems caused by the input throw {@linkcode CheckpointError}.
 *
 * @example Copying a checkpoint tensor by tensor
 * ```ts ignore
 * import { AtomicOutputDir, CheckpointReader, CheckpointWriter, copyNonWeightFiles } from "./io.ts";
 *
 * const src = await CheckpointReader.open("testdata/models/opt-tiny");
 * await using out = await AtomicOutputDir.prepare("out/copy", src.dir, { force: true });
 * const writer = await CheckpointWriter.create(out.tmpPath, src.names().map((n) => src.info(n)));
 * for (const name of src.names()) await writer.write(name, await src.readRaw(name));
 * await writer.close();
 * await copyNonWeightFiles(src.dir, out.tmpPath);
 * src.close();
 * await out.commit();
 * ```
 *
 * @module
 */

export * from "./src/io/errors.ts";
export * from "./src/io/dtype.ts";
export * from "./src/io/safetensors.ts";
export * from "./src/io/safetensors_file.ts";
export * from "./src/io/safetensors_writer.ts";
export * from "./src/io/checkpoint.ts";
export * from "./src/io/checkpoint_writer.ts";
export * from "./src/io/non_weight_files.ts";
export * from "./src/io/atomic_dir.ts";
export * from "./src/io/output_lock.ts";
export * from "./src/io/text.ts";
export * from "./src/io/finite.ts";
export * from "./src/io/model_files.ts";
export * from "./src/app/inspect.ts";
export * from "./src/app/evaluate.ts";
export * from "./src/app/prune_checkpoint.ts";
export * from "./src/app/prune_report.ts";
export * from "./src/io/gptq.ts";
export type { HiddenAct, ModelConfig, ModelType, RopeScaling } from "./src/models/config.ts";
export type { ArchitectureDescription } from "./src/models/describe.ts";
export type { QuantOutcome } from "./src/quant/recorder.ts";
export type { GpuHandle } from "./src/gpu/handle.ts";
