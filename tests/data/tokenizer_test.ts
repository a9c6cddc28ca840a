import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { TextTokenizer } from "../../src/data/tokenizer.ts";

const MODEL_DIR = new URL("../../testdata/models/opt-small/", import.meta.url);
const KJV = new URL("../../testdata/kjv/", import.meta.url);

async function readJson(url: URL): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(url));
}

const tokenizerJson = await readJson(new URL("tokenizer.json", MODEL_DIR));
const tokenizerConfig = await readJson(new URL("tokenizer_config.json", MODEL_DIR));
const testText = await Deno.readTextFile(new URL("test.txt", KJV));

function utf8(text: string): Int32Array {
  return Int32Array.from(new TextEncoder().encode(text));
}

/** The fixture tokenizer plus a few merges, so that it is no longer byte-for-byte. */
function withMerges(): Record<string, unknown> {
  const json = structuredClone(tokenizerJson);
  const model = json.model as { vocab: Record<string, number>; merges: string[] };
  const merges: [string, string][] = [["Ċ", "Ċ"], ["Ġ", "t"], ["h", "e"], ["Ġt", "he"], [
    "Ġ",
    "Ġ",
  ]];
  let id = 300;
  for (const [a, b] of merges) model.vocab[a + b] = id++;
  model.merges = merges.map(([a, b]) => `${a} ${b}`);
  return json;
}

Deno.test("TextTokenizer: fixture ids are the UTF-8 bytes of test.txt", () => {
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig);
  ok(tok.byteFastPath);
  const ids = tok.encode(testText);
  strictEqual(ids.length, 213_753);
  deepStrictEqual(ids, utf8(testText));
});

Deno.test("TextTokenizer: library path gives the same ids as the byte table", () => {
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig, { byteFastPath: false });
  ok(!tok.byteFastPath);
  ok(tok.chunkable);
  deepStrictEqual(tok.encode(testText), utf8(testText));
});

Deno.test("TextTokenizer: chunked library encoding equals whole-text encoding", () => {
  const chunked = new TextTokenizer(tokenizerJson, undefined, {
    byteFastPath: false,
    chunkChars: 1000,
  });
  const whole = new TextTokenizer(tokenizerJson, undefined, { byteFastPath: false, chunkChars: 0 });
  const text = testText.slice(0, 60_000);
  deepStrictEqual(chunked.encode(text), whole.encode(text));
});

Deno.test("TextTokenizer: chunking is lossless with merges across whitespace", () => {
  const json = withMerges();
  const chunked = new TextTokenizer(json, undefined, { chunkChars: 7 });
  const whole = new TextTokenizer(json, undefined, { chunkChars: 0 });
  ok(!chunked.byteFastPath);
  ok(chunked.chunkable);
  const text = "the\n\nthe  the\n the\n\n\n  the end\nthe\n\t\nhe\nthe there\n\n";
  const ids = whole.encode(text);
  deepStrictEqual(chunked.encode(text), ids);
  ok(ids.includes(300), "the merge Ċ Ċ should apply");
  ok(ids.includes(303), "the merge Ġt he should apply");
  deepStrictEqual(chunked.decode(ids), text);
});

Deno.test("TextTokenizer: tokenizers with a normalizer are not chunked", () => {
  const json = structuredClone(tokenizerJson);
  json.normalizer = { type: "NFC" };
  const tok = new TextTokenizer(json, undefined, { chunkChars: 4 });
  ok(!tok.chunkable);
  ok(!tok.byteFastPath);
  deepStrictEqual(tok.encode("ab\ncd\nef"), utf8("ab\ncd\nef"));
});

Deno.test("TextTokenizer: non-ASCII, emoji and whitespace", () => {
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig);
  const library = new TextTokenizer(tokenizerJson, tokenizerConfig, { byteFastPath: false });
  for (const text of ["A é", "naïve café", "👍🏽 ok", "\t \r\n  x", "", "日本語\n"]) {
    deepStrictEqual(tok.encode(text), utf8(text), JSON.stringify(text));
    deepStrictEqual(library.encode(text), utf8(text), JSON.stringify(text));
    deepStrictEqual(tok.decode(tok.encode(text)), text);
  }
  deepStrictEqual(Array.from(tok.encode("A é")), [65, 32, 195, 169]);
});

Deno.test("TextTokenizer: special-token text maps to the special ids", () => {
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig);
  deepStrictEqual(Array.from(tok.encode("a<|endoftext|>b<pad>")), [97, 256, 98, 257]);
  deepStrictEqual(tok.tokenToId("<|endoftext|>"), 256);
  deepStrictEqual(tok.tokenToId("<pad>"), 257);
  deepStrictEqual(tok.tokenToId("no such token"), undefined);
  deepStrictEqual(tok.decode([97, 256]), "a<|endoftext|>");
});

Deno.test("TextTokenizer: vocabSize counts added tokens", () => {
  deepStrictEqual(new TextTokenizer(tokenizerJson).vocabSize, 258);
  deepStrictEqual(new TextTokenizer(withMerges()).vocabSize, 305);
});

Deno.test("TextTokenizer: decode rejects ids outside the vocabulary", () => {
  const tok = new TextTokenizer(tokenizerJson);
  throws(() => tok.decode([65, 258]), {
    name: "RangeError",
    message: /^Token id 258 at position 1 /u,
  });
  throws(() => tok.decode([-1]), {
    name: "RangeError",
    message: /outside the tokenizer vocabulary \(0 to 257\)/,
  });
});

Deno.test("TextTokenizer: invalid tokenizer descriptions and options", () => {
  throws(() => new TextTokenizer({}), { name: "TypeError", message: /with a 'model' object/ });
  throws(() => new TextTokenizer([]), { name: "TypeError", message: /^tokenizer\.json must be/ });
  throws(() => new TextTokenizer(tokenizerJson, 3), {
    name: "TypeError",
    message: "tokenizer_config.json must be a JSON object.",
  });
  throws(() => new TextTokenizer(tokenizerJson, undefined, { chunkChars: -1 }), {
    name: "RangeError",
    message: "chunkChars must be a non-negative integer, got -1.",
  });
});

Deno.test("TextTokenizer: the 3.7 MB calibration text encodes fast", async () => {
  const train = await Deno.readTextFile(new URL("train.txt", KJV));
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig);
  const t0 = performance.now();
  const ids = tok.encode(train);
  const ms = performance.now() - t0;
  strictEqual(ids.length, 3_704_781);
  ok(ms < 2000, `encoding took ${ms} ms`);
  deepStrictEqual(ids, utf8(train));
});
