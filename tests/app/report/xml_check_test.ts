// The SVG tests rely on this checker, so it is tested too: it must reject
// what a careless writer produces.
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { byTag, parseXml, textOf } from "./_xml_check.ts";

Deno.test("parseXml: accepts well-formed documents", () => {
  const root = parseXml(
    `<?xml version="1.0"?>\n<svg a="1" b='x &amp; &lt;y&gt;'><!-- c --><g><t>a &quot;b&quot; &#65;&#x42;</t></g><r/></svg>\n`,
  );
  strictEqual(root.name, "svg");
  deepStrictEqual(root.attrs, { a: "1", b: "x & <y>" });
  strictEqual(textOf(byTag(root, "t")[0]), 'a "b" AB');
  strictEqual(byTag(root, "r").length, 1);
});

Deno.test("parseXml: rejects malformed documents", () => {
  const bad = [
    "<a><b></a></b>", // crossed
    "<a><b></b>", // unclosed
    "<a></a><b/>", // two roots
    "<a x=1/>", // unquoted
    '<a x="1" x="2"/>', // duplicate attribute
    '<a x="<"/>', // raw < in value
    "<a>AT&T</a>", // bare ampersand
    "<a>&nbsp;</a>", // undefined entity
    '<a x="1"y="2"/>', // missing space
    "text<a/>", // text outside root
    "", // empty
  ];
  for (const text of bad) throws(() => parseXml(text), SyntaxError, text);
});
