// Internal XML text helpers of the SVG writers.

/**
 * Escapes text for XML character data and double- or single-quoted
 * attribute values. Characters XML 1.0 cannot represent at all (C0 controls
 * other than tab, newline and carriage return, lone surrogates, U+FFFE and
 * U+FFFF) become U+FFFD.
 *
 * @param text Any string.
 * @returns The escaped string.
 */
export function escapeXml(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * Formats a coordinate for an SVG attribute: at most two decimals, no
 * trailing zeros, no `-0`.
 *
 * @param value A finite number.
 * @returns Its short decimal form.
 */
export function num(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return Object.is(rounded, -0) ? "0" : String(rounded);
}

/**
 * Renders an element's attributes, escaping every value; `undefined`
 * values are left out.
 *
 * @param attributes Attribute names and values.
 * @returns ` name="value"` pairs, each with a leading space.
 */
export function attrs(attributes: Record<string, string | number | undefined>): string {
  let out = "";
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    out += ` ${name}="${escapeXml(typeof value === "number" ? num(value) : value)}"`;
  }
  return out;
}
