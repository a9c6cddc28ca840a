/**
 * A causal language model on the GPU: token (and learned position) embeddings, the decoder
 * layers (kept resident or streamed one at a time), the final norm and the output head with a
 * fused next-token NLL / argmax.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { embed as embedKernel } from "../kernels/embed.ts";
import { matmul } from "../kernels/matmul.ts";
import { nllUpdate } from "../kernels/nll.ts";
import { norm } from "../kernels/norm.ts";
import type { Architecture } from "./arch.ts";
import type { ModelConfig } from "./config.ts";
import { architectureForSource } from "./families.ts";
import {
  checkIds,
  type ForwardResult,
  loadVocab,
  type TokenScores,
  type VocabBlock,
} from "./head.ts";
import { runLayer } from "./layer.ts";
import { type LayerWeights, loadLayerWeights } from "./layer_weights.ts";
import { scratch } from "./scratch.ts";
import { validateWeights } from "./validate.ts";
import type { WeightSource } from "./weights.ts";

/**
 * Options of {@linkcode CausalLM.load}.
 *
 * @example Stream the layers one at a time
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { parseModelConfig } from "./config.ts";
 * import { CausalLM, type CausalLMOptions } from "./model.ts";
 * import { CheckpointReader } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/opt-small");
 * const options: CausalLMOptions = { residentBytes: 0 };
 * const config = parseModelConfig(reader.config, "config.json");
 * const model = await CausalLM.load(await getGpu(), reader, config, options);
 * console.log(model.resident); // false
 * ```
 */
export interface CausalLMOptions {
  /**
   * Keep every decoder layer on the GPU when their f32 weights total at most this many bytes
   * (default 1 GiB); otherwise layers are loaded one at a time when needed.
   */
  residentBytes?: number;
  /** Largest vocabulary block of the embedding / head in bytes (default: 64 MiB or the binding limit). */
  vocabBlockBytes?: number;
  /**
   * Upload the output head (default `true`). Without it the model can only embed tokens and run
   * layers (what calibration needs), not score them.
   */
  withHead?: boolean;
}

/**
 * A causal LM (OPT or LLaMA family) whose weights come from a {@linkcode WeightSource}.
 *
 * @example
 * ```ts ignore
 * const model = await CausalLM.load(gpu, reader, parseModelConfig(reader.config, dir));
 * const { nll } = await model.forward(ids, 1, ids.length);
 * ```
 */
export class CausalLM {
  /** The device. */
  readonly gpu: Gpu;
  /** The configuration. */
  readonly config: ModelConfig;
  /** The architecture. */
  readonly arch: Architecture;
  /** Where the weights come from. */
  readonly source: WeightSource;
  #embedBlocks: VocabBlock[];
  #headBlocks: VocabBlock[];
  #positions: GpuTensor | undefined;
  #finalNorm: { weight: GpuTensor; bias?: GpuTensor };
  #layers: LayerWeights[] | undefined;
  #pending: GpuTensor[] = [];
  #released = false;

  private constructor(
    gpu: Gpu,
    config: ModelConfig,
    arch: Architecture,
    source: WeightSource,
    parts: {
      embed: VocabBlock[];
      head: VocabBlock[];
      positions?: GpuTensor;
      finalNorm: { weight: GpuTensor; bias?: GpuTensor };
      layers?: LayerWeights[];
    },
  ) {
    this.gpu = gpu;
    this.config = config;
    this.arch = arch;
    this.source = source;
    this.#embedBlocks = parts.embed;
    this.#headBlocks = parts.head;
    this.#positions = parts.positions;
    this.#finalNorm = parts.finalNorm;
    this.#layers = parts.layers;
  }

  /**
   * Validates the checkpoint against the configuration, uploads the embeddings, final norm
   * and head, and (when they fit `residentBytes`) every decoder layer.
   *
   * @param gpu The device.
   * @param source The weights.
   * @param config The parsed configuration.
   * @param opts Memory options.
   * @returns The model.
   * @throws {RangeError} When a tensor is missing or misshapen.
   */
  static async load(
    gpu: Gpu,
    source: WeightSource,
    config: ModelConfig,
    opts: CausalLMOptions = {},
  ): Promise<CausalLM> {
    const arch = architectureForSource(config, source);
    validateWeights(arch, source);
    const d = arch.hiddenSize;
    const blockBytes = Math.min(
      opts.vocabBlockBytes ?? 64 * 1024 * 1024,
      gpu.bindingLimit,
    );
    const embed = await loadVocab(gpu, source, arch.embedTokens, arch.vocabSize, d, blockBytes);
    const head = arch.tiedHead
      ? embed
      : opts.withHead === false
      ? []
      : await loadVocab(gpu, source, arch.lmHead, arch.vocabSize, d, blockBytes);
    let positions: GpuTensor | undefined;
    if (arch.positions.kind === "learned") {
      const p = arch.positions;
      positions = gpu.upload(await source.readF32(p.tensor), [p.rows, d], p.tensor);
    }
    const fw = gpu.upload(await source.readF32(arch.finalNorm.weight), [d], arch.finalNorm.weight);
    const finalNorm: { weight: GpuTensor; bias?: GpuTensor } = { weight: fw };
    if (arch.finalNorm.bias) {
      finalNorm.bias = gpu.upload(
        await source.readF32(arch.finalNorm.bias),
        [d],
        arch.finalNorm.bias,
      );
    }
    const layerBytes = arch.numLayers *
      arch.linears.reduce((s, l) => s + 4 * (l.rows * l.cols + (l.bias ? l.rows : 0)), 0);
    let layers: LayerWeights[] | undefined;
    if (layerBytes <= (opts.residentBytes ?? 1024 * 1024 * 1024)) {
      layers = [];
      for (let i = 0; i < arch.numLayers; i++) {
        layers.push(await loadLayerWeights(gpu, arch, source, i));
      }
    }
    return new CausalLM(gpu, config, arch, source, { embed, head, positions, finalNorm, layers });
  }

  /** Whether every decoder layer stays on the GPU. */
  get resident(): boolean {
    return this.#layers !== undefined;
  }

  /** Number of decoder layers. */
  get numLayers(): number {
    return this.arch.numLayers;
  }

  /** The token embedding's vocabulary blocks (also the head's when tied). */
  get embedBlocks(): readonly VocabBlock[] {
    return this.#embedBlocks;
  }

  /**
   * The weights of layer `i`: the resident ones (shared; do not release them), or freshly
   * loaded ones (hand them to {@linkcode CausalLM.releaseLayer} when done).
   */
  async layer(i: number): Promise<LayerWeights> {
    this.#checkAlive();
    if (this.#layers) {
      if (!Number.isInteger(i) || i < 0 || i >= this.#layers.length) {
        throw new RangeError(
          `Layer ${i} does not exist: the model has ${this.#layers.length} layers`,
        );
      }
      return this.#layers[i];
    }
    return await loadLayerWeights(this.gpu, this.arch, this.source, i);
  }

  /** Releases weights from {@linkcode CausalLM.layer} unless they are resident. */
  releaseLayer(w: LayerWeights): void {
    if (this.#layers?.[w.layer] === w) return;
    w.release();
  }

  /**
   * Replaces resident layer `i` (for example with pruned weights); the old weights are
   * released. Only for resident models.
   */
  setLayer(i: number, w: LayerWeights): void {
    if (!this.#layers) {
      throw new RangeError("Cannot set a layer of a model that streams its layers");
    }
    const old = this.#layers[i];
    this.#layers[i] = w;
    if (old !== w) old.release();
  }

  /**
   * Records the embedding of `nseq` sequences of `seqlen` tokens: tokens (times Gemma's
   * `sqrt(hidden)`; + learned positions at offset 2 for OPT, restarting at each sequence). The ids are uploaded now; their buffer
   * is returned to the pool by {@linkcode CausalLM.releaseInputs}, to be called after the
   * batch was submitted.
   *
   * @returns A new `[nseq·seqlen, hidden]` tensor owned by the caller (`gpu.free` it).
   */
  embed(batch: Batch, ids: Int32Array, nseq: number, seqlen: number): GpuTensor {
    this.#checkAlive();
    const a = this.arch, d = a.hiddenSize, T = nseq * seqlen;
    checkIds(ids, nseq, seqlen, a.vocabSize);
    if (a.positions.kind === "learned" && seqlen + a.positions.offset > a.positions.rows) {
      throw new RangeError(
        `Sequences of ${seqlen} tokens exceed the ${a.positions.rows - a.positions.offset} ` +
          `learned positions of this model`,
      );
    }
    const idsT = this.#uploadIds(ids);
    const out = this.gpu.alloc([T, d], "hidden");
    for (const blk of this.#embedBlocks) {
      embedKernel(batch, {
        ids: idsT,
        table: blk.tensor,
        idStart: blk.start,
        idCount: blk.count,
        ...(this.#positions && a.positions.kind === "learned"
          ? { positions: this.#positions, posOffset: a.positions.offset }
          : {}),
        out,
        rows: T,
        cols: d,
        seqlen,
        ...(a.embedScale !== 1 ? { scale: a.embedScale } : {}),
      });
    }
    return out;
  }

  /**
   * Records the final norm, the output head (in row and vocabulary blocks) and the fused
   * next-token NLL / argmax for `hidden` (`[nseq·seqlen, hidden]`, left unchanged). `ids` are
   * the same token ids given to {@linkcode CausalLM.embed}.
   *
   * @returns New tensors owned by the caller (`gpu.free` them after reading).
   */
  scoreTokens(
    batch: Batch,
    hidden: GpuTensor,
    ids: Int32Array,
    nseq: number,
    seqlen: number,
  ): TokenScores {
    this.#checkAlive();
    const a = this.arch, d = a.hiddenSize, T = nseq * seqlen;
    checkIds(ids, nseq, seqlen, a.vocabSize);
    if (hidden.size < T * d) {
      throw new RangeError(`Hidden states hold ${hidden.size} values, ${T * d} needed`);
    }
    const ws = scratch(this.gpu);
    const xn = ws.get("final_norm", T, d);
    norm(batch, {
      kind: a.norm,
      x: hidden,
      y: xn,
      weight: this.#finalNorm.weight,
      ...(this.#finalNorm.bias ? { bias: this.#finalNorm.bias } : {}),
      rows: T,
      cols: d,
      eps: a.normEps,
      ...(a.normWeightOffset ? { weightOffset: a.normWeightOffset } : {}),
    });
    const idsT = this.#uploadIds(ids);
    const state = ws.get("nll_state", T, 3);
    const nll = this.gpu.alloc([T], "nll");
    const argmax = this.gpu.alloc([T], "argmax", "u32");
    if (this.#headBlocks.length === 0) {
      throw new TypeError("This model was loaded without its output head (withHead: false)");
    }
    const vb = Math.max(...this.#headBlocks.map((b) => b.count));
    const rowBlock = Math.max(1, Math.min(T, Math.floor((64 * 1024 * 1024) / (4 * vb))));
    const logits = ws.get("logits", rowBlock, vb);
    for (let r0 = 0; r0 < T; r0 += rowBlock) {
      const rows = Math.min(rowBlock, T - r0);
      for (const blk of this.#headBlocks) {
        matmul(batch, {
          a: xn,
          b: blk.tensor,
          c: logits,
          M: rows,
          N: blk.count,
          K: d,
          transB: true,
          offA: r0 * d,
        });
        nllUpdate(batch, {
          logits,
          ids: idsT,
          state,
          nll,
          argmax,
          rows,
          rowStart: r0,
          seqlen,
          vocStart: blk.start,
          vocCount: blk.count,
        });
      }
    }
    return { nll, argmax };
  }

  /**
   * Runs the whole model on `nseq` sequences of `seqlen` tokens and reads back the
   * next-token NLLs and the argmax ids. Streams the layers when they are not resident.
   */
  async forward(ids: Int32Array, nseq: number, seqlen: number): Promise<ForwardResult> {
    const gpu = this.gpu;
    let b = gpu.batch("forward");
    const h = this.embed(b, ids, nseq, seqlen);
    try {
      for (let l = 0; l < this.numLayers; l++) {
        const w = await this.layer(l);
        runLayer(gpu, b, this.arch, w, h, h, seqlen);
        if (!this.resident) {
          b.submit();
          b = gpu.batch("forward");
          this.releaseLayer(w);
        }
      }
      const s = this.scoreTokens(b, h, ids, nseq, seqlen);
      b.submit();
      try {
        const nllAll = await gpu.read(s.nll);
        const argmax = await gpu.readU32(s.argmax);
        const nll = new Float32Array(nseq * (seqlen - 1));
        for (let q = 0; q < nseq; q++) {
          nll.set(nllAll.subarray(q * seqlen, q * seqlen + seqlen - 1), q * (seqlen - 1));
        }
        return { nll, argmax };
      } finally {
        gpu.free(s.nll, s.argmax);
      }
    } finally {
      b.submit();
      gpu.free(h);
      this.releaseInputs();
    }
  }

  /** Returns the token-id buffers of earlier {@linkcode CausalLM.embed} / scoring calls to the pool. */
  releaseInputs(): void {
    this.gpu.free(...this.#pending);
    this.#pending = [];
  }

  /** Frees every GPU tensor of the model (after the work that uses them was submitted). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.releaseInputs();
    const tensors = this.#embedBlocks.map((b) => b.tensor);
    if (this.#headBlocks !== this.#embedBlocks) {
      tensors.push(...this.#headBlocks.map((b) => b.tensor));
    }
    this.gpu.free(...tensors, this.#positions, this.#finalNorm.weight, this.#finalNorm.bias);
    for (const l of this.#layers ?? []) l.release();
    this.#layers = undefined;
  }

  #uploadIds(ids: Int32Array): GpuTensor {
    const t = this.gpu.upload(ids, [ids.length], "ids");
    this.#pending.push(t);
    return t;
  }

  #checkAlive(): void {
    if (this.#released) throw new RangeError("This model was released");
  }
}
