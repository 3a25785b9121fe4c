/**
 * The one way to put an untrusted value (a name from a file, a JSON value, a flag) into a message:
 * bounded in length and depth, every character outside printable ASCII escaped, so a message stays
 * one line whatever the file holds and no escape sequence reaches a terminal.
 */

/** Characters of a shown value before it is cut. */
export const SHOW_MAX_CHARS = 80;
/** Nesting levels of arrays and objects shown before `…`. */
export const SHOW_MAX_DEPTH = 3;
/** Array elements or object keys shown per level before `…`. */
export const SHOW_MAX_ITEMS = 8;

const escapeChar = (c: string): string => {
  switch (c) {
    case '"': return '\\"';
    case "\\": return "\\\\";
    case "\n": return "\\n";
    case "\r": return "\\r";
    case "\t": return "\\t";
  }
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
};

/** A string quoted as JSON would, but with every character outside 0x20–0x7e escaped; cut at `max` characters of input. */
export function showName(s: string, max = SHOW_MAX_CHARS): string {
  const cut = s.length > max;
  const body = (cut ? s.slice(0, max) : s).replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, escapeChar);
  return `"${body}"` + (cut ? `… (${s.length} characters)` : "");
}

function walk(v: unknown, depth: number, budget: { left: number }): string {
  if (budget.left <= 0) return "…";
  let out: string;
  if (v === undefined) out = "nothing";
  else if (v === null || typeof v === "boolean") out = String(v);
  else if (typeof v === "number") out = Object.is(v, -0) ? "-0" : String(v);
  else if (typeof v === "bigint") out = `${v}n`;
  else if (typeof v === "string") out = showName(v, Math.max(8, Math.min(SHOW_MAX_CHARS, budget.left)));
  else if (typeof v !== "object") out = typeof v;
  else if (depth >= SHOW_MAX_DEPTH) out = Array.isArray(v) ? "[…]" : "{…}";
  else if (Array.isArray(v)) {
    const n = v.length;
    const parts: string[] = [];
    for (let i = 0; i < Math.min(n, SHOW_MAX_ITEMS) && budget.left > 0; i++) parts.push(walk(v[i], depth + 1, budget));
    if (parts.length < n) parts.push(`… ${n} items`);
    out = `[${parts.join(",")}]`;
  } else if (ArrayBuffer.isView(v)) {
    out = `${v.constructor.name}(${v.byteLength} bytes)`;
  } else {
    const parts: string[] = [];
    let n = 0;
    for (const k in v as Record<string, unknown>) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      if (n++ >= SHOW_MAX_ITEMS || budget.left <= 0) continue;
      parts.push(`${showName(k, 40)}:${walk((v as Record<string, unknown>)[k], depth + 1, budget)}`);
    }
    if (n > parts.length) parts.push(`… ${n} keys`);
    out = `{${parts.join(",")}}`;
  }
  budget.left -= out.length;
  return out;
}

/**
 * Any value (parsed JSON, a flag, a tensor name) as one bounded line: strings quoted and escaped,
 * arrays and objects cut after {@link SHOW_MAX_ITEMS} entries and {@link SHOW_MAX_DEPTH} levels,
 * the whole cut near `max` characters. Never recurses deeper than the depth bound, so a value
 * nested 20,000 deep costs no more than one nested 3 deep.
 */
export function showValue(v: unknown, max = SHOW_MAX_CHARS): string {
  const s = walk(v, 0, { left: max });
  return s.length > max + 24 ? s.slice(0, max) + "…" : s;
}
