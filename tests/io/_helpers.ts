// Shared helpers for the I/O tests.

/** Builds safetensors file bytes from a header (object or raw JSON text) and a data section. */
export function buildSafetensors(
  header: unknown,
  data: Uint8Array | number = 0,
  headerSize?: bigint,
): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, headerSize ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sparsellm_io_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Element count of a shape. */
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 24;
  }
  return out;
}

/** The fixture model folders. */
export const MODELS = "testdata/models";
