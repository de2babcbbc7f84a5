/**
 * A small strict XML 1.0 parser for checking the kit's JUnit output: elements, double- or single-quoted
 * attributes, text, the five predefined entities and character references, comments and the prolog. It throws on
 * anything not well-formed (unbalanced or crossed tags, unescaped '<' or '&', unknown entities, duplicate
 * attributes, characters XML cannot hold, text outside the root element).
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_.:]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeText(s: string, where: number): string {
  return s.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
    if (ent === undefined) throw new Error(`bare '&' at ${where}`);
    if (ent in ENTITIES) return ENTITIES[ent]!;
    const num = /^#(\d+)$/.exec(ent) ?? /^#x([0-9a-fA-F]+)$/.exec(ent);
    if (num) return String.fromCodePoint(Number.parseInt(num[1]!, ent.startsWith('#x') ? 16 : 10));
    throw new Error(`unknown entity ${m} at ${where}`);
  });
}

export function parseXml(input: string): XmlElement {
  for (const ch of input) {
    const c = ch.codePointAt(0)!;
    const ok =
      c === 0x9 ||
      c === 0xa ||
      c === 0xd ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      c >= 0x10000;
    if (!ok) throw new Error(`character U+${c.toString(16)} is not allowed in XML`);
  }
  let i = 0;
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(input.slice(i))![0].length;
      i += ws;
      if (input.startsWith('<!--', i)) {
        const end = input.indexOf('-->', i);
        if (end < 0) throw new Error('unterminated comment');
        i = end + 3;
      } else if (input.startsWith('<?', i)) {
        const end = input.indexOf('?>', i);
        if (end < 0) throw new Error('unterminated processing instruction');
        i = end + 2;
      } else return;
    }
  };
  const parseElement = (): XmlElement => {
    if (input[i] !== '<') throw new Error(`expected '<' at ${i}`);
    i++;
    const name = NAME.exec(input.slice(i))?.[0];
    if (!name) throw new Error(`bad element name at ${i}`);
    i += name.length;
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    for (;;) {
      const ws = /^\s*/.exec(input.slice(i))![0].length;
      i += ws;
      if (input.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (input[i] === '>') {
        i++;
        break;
      }
      if (ws === 0) throw new Error(`expected whitespace before an attribute at ${i}`);
      const an = NAME.exec(input.slice(i))?.[0];
      if (!an) throw new Error(`bad attribute name at ${i} in <${name}>`);
      i += an.length;
      const eq = /^\s*=\s*/.exec(input.slice(i));
      if (!eq) throw new Error(`expected '=' after ${an} at ${i}`);
      i += eq[0].length;
      const q = input[i];
      if (q !== '"' && q !== "'") throw new Error(`unquoted attribute ${an} at ${i}`);
      const end = input.indexOf(q, i + 1);
      if (end < 0) throw new Error(`unterminated attribute ${an}`);
      const raw = input.slice(i + 1, end);
      if (raw.includes('<')) throw new Error(`'<' in attribute ${an}`);
      if (an in el.attrs) throw new Error(`duplicate attribute ${an} in <${name}>`);
      el.attrs[an] = decodeText(raw, i);
      i = end + 1;
    }
    for (;;) {
      const lt = input.indexOf('<', i);
      if (lt < 0) throw new Error(`<${name}> is not closed`);
      const text = input.slice(i, lt);
      if (text.includes(']]>')) throw new Error("']]>' in text");
      el.text += decodeText(text, i);
      i = lt;
      if (input.startsWith('</', i)) {
        i += 2;
        const close = NAME.exec(input.slice(i))?.[0];
        if (close !== name) throw new Error(`</${close}> closes <${name}> at ${i}`);
        i += close.length;
        const gt = /^\s*>/.exec(input.slice(i));
        if (!gt) throw new Error(`bad end tag </${close}>`);
        i += gt[0].length;
        return el;
      }
      if (input.startsWith('<!--', i)) {
        const end = input.indexOf('-->', i);
        if (end < 0) throw new Error('unterminated comment');
        i = end + 3;
        continue;
      }
      el.children.push(parseElement());
    }
  };
  skipMisc();
  const root = parseElement();
  skipMisc();
  if (i !== input.length) throw new Error(`content after the root element at ${i}`);
  return root;
}
