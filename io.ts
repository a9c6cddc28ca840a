/**
 * Checkpoint I/O for sparsellm: safetensors headers, readers and writers,
 * Hugging Face checkpoint folders (single file or sharded), float32 <->
 * F16/BF16 conversion, and atomic output folders.
 *
 * Files are never loaded whole: readers read the header, then one tensor's
 * byte range at a time; writers lay the file out up front and write each
 * tensor at its offset.
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
export * from "./src/io/non_weight_files.ts";
export * from "./src/io/atomic_dir.ts";
export * from "./src/io/text.ts";
export * from "./src/io/finite.ts";
export * from "./src/io/model_files.ts";
export * from "./src/io/inspect.ts";
export * from "./src/io/evaluate.ts";
export * from "./src/io/prune_checkpoint.ts";
export * from "./src/io/gptq.ts";
export * from "./src/io/resume_state.ts";
export * from "./src/io/sweep.ts";
