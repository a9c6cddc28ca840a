// A minimal, strict XML well-formedness checker for the SVG tests (Deno has
// no DOMParser). It checks what the SVG writers could get wrong: balanced and
// properly nested tags, one root element, quoted attribute values without a
// raw `<`, unique attribute names, and that every `&` starts a valid entity.

/** A parsed element. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/y;
const SPACE = /[ \t\r\n]*/y;

function decode(text: string, at: number): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "<") throw new SyntaxError(`raw '<' at offset ${at + i}`);
    if (c !== "&") {
      out += c;
      continue;
    }
    ENTITY.lastIndex = i;
    const m = ENTITY.exec(text);
    if (m === null) throw new SyntaxError(`bare '&' at offset ${at + i}`);
    const body = m[0].slice(1, -1);
    out += body === "amp"
      ? "&"
      : body === "lt"
      ? "<"
      : body === "gt"
      ? ">"
      : body === "quot"
      ? '"'
      : body === "apos"
      ? "'"
      : String.fromCodePoint(
        body.startsWith("#x") ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10),
      );
    i += m[0].length - 1;
  }
  return out;
}

/**
 * Parses `text` as an XML document and returns its root element.
 * Throws a SyntaxError naming the offset of the first problem.
 */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const skipSpace = () => {
    SPACE.lastIndex = i;
    SPACE.exec(text);
    i = SPACE.lastIndex;
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (m === null) throw new SyntaxError(`expected a name at offset ${i}`);
    i = NAME.lastIndex;
    return m[0];
  };
  if (text.startsWith("<?xml")) {
    const end = text.indexOf("?>");
    if (end < 0) throw new SyntaxError("unterminated XML declaration");
    i = end + 2;
  }
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (stack.length === 0) {
      if (chunk.trim() !== "") {
        throw new SyntaxError(`text outside the root element at offset ${i}`);
      }
    } else if (chunk !== "") {
      stack[stack.length - 1].children.push(decode(chunk, i));
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4);
      if (end < 0) throw new SyntaxError(`unterminated comment at offset ${i}`);
      i = end + 3;
    } else if (text.startsWith("</", i)) {
      i += 2;
      const tag = name();
      skipSpace();
      if (text[i] !== ">") throw new SyntaxError(`expected '>' at offset ${i}`);
      i++;
      const open = stack.pop();
      if (open === undefined || open.name !== tag) {
        throw new SyntaxError(`</${tag}> closes <${open?.name ?? "nothing"}> at offset ${i}`);
      }
    } else {
      i++;
      const element: XmlElement = { name: name(), attrs: {}, children: [] };
      if (stack.length === 0 && root !== null) {
        throw new SyntaxError(`second root element <${element.name}> at offset ${i}`);
      }
      while (true) {
        const before = i;
        skipSpace();
        if (text.startsWith("/>", i) || text[i] === ">") break;
        if (i === before) {
          throw new SyntaxError(`expected a space before an attribute at offset ${i}`);
        }
        const attr = name();
        skipSpace();
        if (text[i] !== "=") throw new SyntaxError(`attribute ${attr} without '=' at offset ${i}`);
        i++;
        skipSpace();
        const quote = text[i];
        if (quote !== '"' && quote !== "'") {
          throw new SyntaxError(`unquoted value of attribute ${attr} at offset ${i}`);
        }
        const end = text.indexOf(quote, i + 1);
        if (end < 0) throw new SyntaxError(`unterminated value of attribute ${attr}`);
        if (attr in element.attrs) {
          throw new SyntaxError(`duplicate attribute ${attr} at offset ${i}`);
        }
        element.attrs[attr] = decode(text.slice(i + 1, end), i + 1);
        i = end + 1;
      }
      if (stack.length > 0) stack[stack.length - 1].children.push(element);
      else root = element;
      if (text.startsWith("/>", i)) {
        i += 2;
      } else {
        i += 1;
        stack.push(element);
      }
    }
  }
  if (stack.length > 0) throw new SyntaxError(`<${stack[stack.length - 1].name}> is never closed`);
  if (root === null) throw new SyntaxError("no root element");
  return root;
}

/** All elements below (and including) `root` for which `match` holds, in document order. */
export function findAll(root: XmlElement, match: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const visit = (e: XmlElement) => {
    if (match(e)) out.push(e);
    for (const c of e.children) if (typeof c !== "string") visit(c);
  };
  visit(root);
  return out;
}

/** Elements with the given tag name and, optionally, class. */
export function byTag(root: XmlElement, tag: string, cls?: string): XmlElement[] {
  return findAll(root, (e) => e.name === tag && (cls === undefined || e.attrs.class === cls));
}

/** The decoded text inside an element. */
export function textOf(e: XmlElement): string {
  return e.children.map((c) => (typeof c === "string" ? c : textOf(c))).join("");
}
