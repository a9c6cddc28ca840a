/**
 * Text to token ids (and back) with a Hugging Face `tokenizer.json`.
 *
 * @module
 */

import { Tokenizer } from "@huggingface/tokenizers";

/**
 * Options of {@linkcode TextTokenizer}.
 *
 * @example Always encode through the Hugging Face library
 * ```ts
 * import { TextTokenizer, type TextTokenizerOptions } from "@sparsellm/sparsellm";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/opt-tiny/tokenizer.json"));
 * const options: TextTokenizerOptions = { byteFastPath: false, chunkChars: 0 };
 * const tokenizer = new TextTokenizer(json, undefined, options);
 * const ids = tokenizer.encode("In the beginning God created the heaven and the earth.");
 * ```
 */
export interface TextTokenizerOptions {
  /**
   * Encode byte-level tokenizers without merges (token = one byte, as in the
   * fixture models) with a direct byte-to-id table instead of the library.
   * The result is identical and about 100 times faster. Default `true`.
   */
  byteFastPath?: boolean;
  /**
   * Size, in UTF-16 code units, of the pieces a long text is cut into before
   * it is handed to the library, when that is provably lossless (see
   * {@linkcode TextTokenizer.chunkable}). `0` disables chunking.
   * Default `65536`.
   */
  chunkChars?: number;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * GPT-2's `bytes_to_unicode`: the printable character that byte-level BPE
 * vocabularies use for each byte value.
 */
function bytesToUnicode(): string[] {
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) ||
      (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return chars;
}

function addedTokens(tokenizerJson: JsonObject): JsonObject[] {
  const added = tokenizerJson.added_tokens;
  return Array.isArray(added) ? added.filter(isObject) : [];
}

/**
 * The byte-to-id table of a merge-free byte-level BPE tokenizer, or `null`
 * when the tokenizer is anything else (then only the library is exact).
 */
function byteTable(tokenizerJson: JsonObject): Int32Array | null {
  const model = tokenizerJson.model;
  const pre = tokenizerJson.pre_tokenizer;
  const post = tokenizerJson.post_processor;
  if (!isObject(model) || model.type !== "BPE") return null;
  if (!Array.isArray(model.merges) || model.merges.length !== 0) return null;
  if (typeof model.dropout === "number" && model.dropout > 0) return null;
  if (model.continuing_subword_suffix || model.end_of_word_suffix) return null;
  if (tokenizerJson.normalizer != null) return null;
  if (!isObject(pre) || pre.type !== "ByteLevel" || pre.add_prefix_space === true) return null;
  if (post != null && !(isObject(post) && post.type === "ByteLevel")) return null;
  const vocab = model.vocab;
  if (!isObject(vocab)) return null;
  const table = new Int32Array(256);
  const symbols = bytesToUnicode();
  for (let b = 0; b < 256; b++) {
    const id = vocab[symbols[b]];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) return null;
    table[b] = id;
  }
  return table;
}

/**
 * Whether cutting the text right after a `\n` that is followed by a
 * non-whitespace character can never change the encoding. True for GPT-2
 * style byte-level tokenizers: no normalizer, a `ByteLevel` pre-tokenizer
 * without prefix space that splits with GPT-2's regex (no pre-token contains
 * a newline followed by a non-space), and no added token that contains a
 * newline or strips whitespace to its left.
 */
function isChunkable(tokenizerJson: JsonObject): boolean {
  const pre = tokenizerJson.pre_tokenizer;
  if (tokenizerJson.normalizer != null) return false;
  if (!isObject(pre) || pre.type !== "ByteLevel") return false;
  if (pre.add_prefix_space === true || pre.use_regex === false) return false;
  return addedTokens(tokenizerJson).every((t) =>
    typeof t.content === "string" && !/[\r\n]/.test(t.content) && t.lstrip !== true
  );
}

/** True for the whitespace characters of the `\s` regex class. */
function isWhitespace(char: string): boolean {
  return /\s/.test(char);
}

/**
 * A Hugging Face tokenizer built from a parsed `tokenizer.json`.
 *
 * Encoding never adds special tokens (no BOS/EOS), as in the SparseGPT/Wanda
 * perplexity protocol; literal special-token text in the input (for example
 * `<|endoftext|>`) is still recognised as that token, as Hugging Face does.
 *
 * @example Byte-level fixture tokenizer: ids are the UTF-8 bytes
 * ```ts ignore
 * import { TextTokenizer } from "./tokenizer.ts";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/opt-small/tokenizer.json"));
 * const tok = new TextTokenizer(json);
 * tok.encode("A é"); // Int32Array [65, 32, 195, 169]
 * ```
 */
export class TextTokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #byteTable: Int32Array | null;
  readonly #addedContents: string[];
  readonly #chunkChars: number;
  readonly #vocabSize: number;

  /**
   * Whether long texts are encoded in pieces cut after newlines (lossless for
   * this tokenizer; see {@linkcode TextTokenizerOptions.chunkChars}).
   */
  readonly chunkable: boolean;

  /**
   * Creates a tokenizer.
   *
   * @param tokenizerJson The parsed contents of `tokenizer.json`.
   * @param tokenizerConfig The parsed contents of `tokenizer_config.json`, if any.
   * @param options Speed options; the defaults suit every tokenizer.
   * @throws {TypeError} when `tokenizerJson` is not a tokenizer description.
   */
  constructor(
    tokenizerJson: unknown,
    tokenizerConfig?: unknown,
    options: TextTokenizerOptions = {},
  ) {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
      throw new TypeError(
        "tokenizer.json must be a JSON object with a 'model' object, as written by Hugging Face tokenizers.",
      );
    }
    if (tokenizerConfig !== undefined && !isObject(tokenizerConfig)) {
      throw new TypeError("tokenizer_config.json must be a JSON object.");
    }
    const chunkChars = options.chunkChars ?? 65536;
    if (!Number.isInteger(chunkChars) || chunkChars < 0) {
      throw new RangeError(`chunkChars must be a non-negative integer, got ${chunkChars}.`);
    }
    try {
      this.#tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig ?? {});
    } catch (error) {
      throw new TypeError(
        `tokenizer.json could not be loaded: ${error instanceof Error ? error.message : error}`,
        { cause: error },
      );
    }
    this.#byteTable = (options.byteFastPath ?? true) ? byteTable(tokenizerJson) : null;
    this.#addedContents = addedTokens(tokenizerJson)
      .map((t) => t.content)
      .filter((c): c is string => typeof c === "string" && c.length > 0);
    this.#chunkChars = chunkChars;
    this.chunkable = isChunkable(tokenizerJson);
    let maxId = -1;
    for (const id of this.#tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.#vocabSize = maxId + 1;
  }

  /**
   * Number of token ids the tokenizer can produce: the largest id of the
   * vocabulary or of the added (special) tokens, plus one. A model's
   * `vocab_size` may be larger (padded embedding rows).
   */
  get vocabSize(): number {
    return this.#vocabSize;
  }

  /** Whether {@linkcode encode} uses the direct byte-to-id table. */
  get byteFastPath(): boolean {
    return this.#byteTable !== null;
  }

  /**
   * Encodes text to token ids without adding special tokens.
   *
   * @param text The text to encode.
   * @returns The token ids.
   */
  encode(text: string): Int32Array {
    const table = this.#byteTable;
    if (table !== null && !this.#addedContents.some((c) => text.includes(c))) {
      const bytes = new TextEncoder().encode(text);
      const ids = new Int32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) ids[i] = table[bytes[i]];
      return ids;
    }
    if (!this.chunkable || this.#chunkChars === 0 || text.length <= this.#chunkChars) {
      return Int32Array.from(this.#encodeWithLibrary(text));
    }
    const pieces: number[][] = [];
    let total = 0;
    let start = 0;
    while (start < text.length) {
      const end = this.#chunkEnd(text, start);
      const ids = this.#encodeWithLibrary(text.slice(start, end));
      pieces.push(ids);
      total += ids.length;
      start = end;
    }
    const out = new Int32Array(total);
    let offset = 0;
    for (const piece of pieces) {
      out.set(piece, offset);
      offset += piece.length;
    }
    return out;
  }

  /**
   * Decodes token ids back to text exactly: special tokens are kept as their
   * text and no tokenization-space clean-up is applied.
   *
   * @param ids Token ids, each in `[0, vocabSize)`.
   * @returns The decoded text.
   * @throws {RangeError} when an id is outside the vocabulary.
   */
  decode(ids: ArrayLike<number>): string {
    const list = Array.from(ids);
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.#vocabSize) {
        throw new RangeError(
          `Token id ${id} at position ${i} is outside the tokenizer vocabulary (0 to ${
            this.#vocabSize - 1
          }).`,
        );
      }
    }
    if (list.length === 0) return "";
    return this.#tokenizer.decode(list, { clean_up_tokenization_spaces: false });
  }

  /**
   * Looks up the id of a token string, e.g. a special token such as
   * `<|endoftext|>`.
   *
   * @param token The token as written in the vocabulary.
   * @returns Its id, or `undefined` when the vocabulary does not contain it.
   */
  tokenToId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }

  #encodeWithLibrary(text: string): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * End of the piece that starts at `start`: just after the first newline
   * at or beyond `start + chunkChars` that is followed by a non-whitespace
   * character, or the end of the text.
   */
  #chunkEnd(text: string, start: number): number {
    let i = start + this.#chunkChars;
    while (i < text.length) {
      const nl = text.indexOf("\n", i - 1);
      if (nl < 0 || nl + 1 >= text.length) return text.length;
      if (!isWhitespace(text[nl + 1])) return nl + 1;
      i = nl + 2;
    }
    return text.length;
  }
}
