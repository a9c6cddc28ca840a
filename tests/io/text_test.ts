import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { readCalibrationDocs, readTextFile } from "../../src/io/text.ts";
import { withTempDir } from "./_helpers.ts";

const KJV = new URL("../../testdata/kjv/", import.meta.url);

Deno.test("readTextFile: reads the KJV test split", async () => {
  const url = new URL("test.txt", KJV);
  const text = await readTextFile(url);
  strictEqual(text.length, 213_753);
  strictEqual(text, await Deno.readTextFile(url));
  strictEqual(await readTextFile(url.pathname), text);
});

Deno.test("readTextFile: UTF-8 with and without a byte order mark", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/bom.txt`, new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0xc3, 0xa9]));
    strictEqual(await readTextFile(`${dir}/bom.txt`), "hé");
    await Deno.writeTextFile(`${dir}/plain.txt`, "naïve 👍\n");
    strictEqual(await readTextFile(`${dir}/plain.txt`), "naïve 👍\n");
  });
});

Deno.test("readTextFile: clear errors", async () => {
  await withTempDir(async (dir) => {
    await rejects(readTextFile(`${dir}/missing.txt`), {
      message: `The file "${dir}/missing.txt" does not exist.`,
    });
    await rejects(readTextFile(dir), { message: `"${dir}" is a directory, not a text file.` });
    await Deno.writeFile(`${dir}/latin1.txt`, new Uint8Array([0x61, 0x62, 0xe9, 0x63]));
    await rejects(readTextFile(`${dir}/latin1.txt`), {
      message:
        `The file "${dir}/latin1.txt" is not valid UTF-8 text (invalid byte 0xe9 at offset 2).`,
    });
    // Overlong encoding of "/" and a UTF-16 surrogate encoded in UTF-8.
    await Deno.writeFile(`${dir}/overlong.txt`, new Uint8Array([0x41, 0xc0, 0xaf]));
    await rejects(readTextFile(`${dir}/overlong.txt`), { message: /byte 0xc0 at offset 1/ });
    await Deno.writeFile(`${dir}/surrogate.txt`, new Uint8Array([0x41, 0x42, 0xed, 0xa0, 0x80]));
    await rejects(readTextFile(`${dir}/surrogate.txt`), { message: /byte 0xed at offset 2/ });
  });
});

Deno.test("readCalibrationDocs: a plain text file is one document", async () => {
  const docs = await readCalibrationDocs(new URL("train.txt", KJV));
  strictEqual(docs.length, 1);
  strictEqual(docs[0].length, 3_704_781);
});

Deno.test("readCalibrationDocs: JSONL, one document per line", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/c4.jsonl`;
    await Deno.writeTextFile(
      path,
      [
        JSON.stringify({ text: "first doc\nwith a newline", url: "https://example.org" }),
        "",
        JSON.stringify({ text: "second — ünïcode", timestamp: "2019" }) + "\r",
        "   ",
        JSON.stringify({ text: "" }),
        "",
      ].join("\n"),
    );
    deepStrictEqual(await readCalibrationDocs(path), [
      "first doc\nwith a newline",
      "second — ünïcode",
      "",
    ]);
    await Deno.writeTextFile(`${dir}/UPPER.JSONL`, '{"text":"x"}');
    deepStrictEqual(await readCalibrationDocs(`${dir}/UPPER.JSONL`), ["x"]);
  });
});

Deno.test("readCalibrationDocs: errors name the file and line", async () => {
  await withTempDir(async (dir) => {
    const write = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
    await write("bad.jsonl", '{"text":"ok"}\n\n{"text": oops}\n');
    await rejects(readCalibrationDocs(`${dir}/bad.jsonl`), {
      message: new RegExp(`^Line 3 of "${dir}/bad\\.jsonl" is not valid JSON: `),
    });
    await write("array.jsonl", '{"text":"ok"}\n["text"]\n');
    await rejects(readCalibrationDocs(`${dir}/array.jsonl`), {
      message: `Line 2 of "${dir}/array.jsonl" is not a JSON object.`,
    });
    await write("field.jsonl", '{"content":"x"}\n');
    await rejects(readCalibrationDocs(`${dir}/field.jsonl`), {
      message: `Line 1 of "${dir}/field.jsonl" has no string field 'text' (found no such field).`,
    });
    await write("number.jsonl", '{"text":"a"}\n{"text":42}\n');
    await rejects(readCalibrationDocs(`${dir}/number.jsonl`), {
      message: `Line 2 of "${dir}/number.jsonl" has no string field 'text' (found number).`,
    });
    await write("empty.jsonl", "\n\n");
    await rejects(readCalibrationDocs(`${dir}/empty.jsonl`), {
      message: `The calibration file "${dir}/empty.jsonl" contains no documents.`,
    });
    await write("empty.txt", "");
    await rejects(readCalibrationDocs(`${dir}/empty.txt`), {
      message: `The calibration file "${dir}/empty.txt" is empty.`,
    });
    await rejects(readCalibrationDocs(`${dir}/none.jsonl`), {
      message: `The file "${dir}/none.jsonl" does not exist.`,
    });
  });
});
