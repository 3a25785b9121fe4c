// Numeric CSV, read as a stream of lines: comma-separated decimal numbers, a header row or none, one sample
// per line. Nothing is converted before the first row has told the width (checked against the consumer's);
// each line is bounded, and the output is allocated once, after the budget check.
import { FormatError, UserError, showName } from "../../runtime/src/index.ts";
import { readerStats } from "./stats.ts";

/** Bytes allowed for a CSV file. */
export const CSV_MAX_BYTES = 512 * 1024 * 1024;
/** Bytes allowed for one line (65,535 features of 60 characters each fit). */
export const CSV_MAX_LINE_BYTES = 4 * 1024 * 1024;
/** Values (rows × columns) a CSV may hold. */
export const CSV_MAX_VALUES = 2 ** 30;

const NONFINITE = /^[+-]?(nan|inf|infinity)$/i;
/** A decimal number as numpy.loadtxt and float() read it; hex, binary, octal and `1_000` are not. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** A column name: starts with a letter, `_` or a non-ASCII character. */
const NAME = /^[A-Za-z_\u0080-\uffff]/;
const unquote = (s: string) => {
  const t = s.trim();
  return t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"' ? t.slice(1, -1).replaceAll('""', '"') : t;
};
const isNumber = (s: string) => DECIMAL.test(s) || NONFINITE.test(s);

export interface CsvOptions {
  /** true: the first row is a header; false: it is data; undefined: decided from the row (an error when unclear). */
  header?: boolean;
  /** The label column: a header name or a 0-based index; undefined: the column named `label`, if any. */
  labelColumn?: string;
  /** Convert only the first `samples` rows. */
  samples?: number;
  /** Features per row the consumer takes, checked on the first row; `consumer` names it. */
  features?: number;
  consumer?: string;
  /** Bytes the output (features and labels) may take. */
  budget: number;
  /** Feature values with |x| above this (default: float32's largest) go to `check`, which throws. */
  maxAbs?: number;
}

export interface CsvData {
  /** Column names (null without a header row). */
  header: string[] | null;
  /** Label column index, -1 without labels. */
  labelColumn: number;
  count: number;
  width: number;
  /** count × width float32 values, row-major (only finite values within the limits). */
  features: Float32Array;
  /** The label column's values as read (not yet checked as class indices), or null. */
  labels: Float64Array | null;
  /** File line number (1-based) of data row r. */
  line(r: number): number;
  /** Data rows in the file (≥ count). */
  rows: number;
}

/**
 * Reads a numeric CSV; every bad field is a UserError naming file, line and column (0-based) and the value.
 * `check(x, line, c)` sees each feature value beyond `opts.maxAbs` (with its line and column) and throws.
 */
export function readCsv(bytes: Uint8Array, source: string, opts: CsvOptions, check?: (x: number, line: number, col: number) => void): CsvData {
  if (bytes.length > CSV_MAX_BYTES) throw new FormatError("length", 0, `<= ${CSV_MAX_BYTES} bytes`, `${bytes.length} bytes`, source);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  // Lines: [start, end) without the line break; the first pass only finds them (and bounds each)
  const lineAt = (start: number): { end: number; next: number } => {
    let nl = buf.indexOf(10, start);
    if (nl < 0) nl = bytes.length;
    if (nl - start > CSV_MAX_LINE_BYTES) {
      throw new UserError(`${source}: line ${lineNo} is longer than ${CSV_MAX_LINE_BYTES} bytes (the most one line may have); is this a CSV file?`);
    }
    return { end: nl > start && bytes[nl - 1] === 13 ? nl - 1 : nl, next: nl + 1 };
  };
  const blank = (s: number, e: number) => {
    for (let i = s; i < e; i++) if (bytes[i] !== 32 && bytes[i] !== 9 && bytes[i] !== 13) return false;
    return true;
  };
  let lineNo = 1, pos = bom;
  if (blank(bom, lineAt(bom).end) && bytes.subarray(bom).every((b) => b === 32 || b === 9 || b === 13 || b === 10)) throw new UserError(`${source}: empty CSV file (no rows)`);
  const text = (s: number, e: number) => new TextDecoder().decode(bytes.subarray(s, e));

  // The first row: header or data
  lineNo = 1;
  const l1 = lineAt(bom);
  const first = text(bom, l1.end).split(",").map(unquote);
  const cols = first.length;
  let hasHeader = opts.header;
  if (hasHeader === undefined) {
    if (first.every(isNumber)) hasHeader = false;
    else if (first.every((s) => !isNumber(s) && (s === "" || NAME.test(s))) && first.some((s) => s !== "")) hasHeader = true;
    else {
      const c = first.findIndex((s) => !isNumber(s) && !(s !== "" && NAME.test(s)));
      const name = first.findIndex((s) => !isNumber(s)), num = first.findIndex(isNumber);
      const why = c >= 0 ? `column ${c} is ${showName(first[c], 40)}` : `it mixes names and numbers (column ${name} is ${showName(first[name], 40)}, column ${num} is ${showName(first[num], 40)})`;
      throw new UserError(`${source}: line 1 is neither a header (names) nor a data row (numbers): ${why}; pass --csv-header if it is a header, --no-csv-header if it is data`);
    }
  }
  const header = hasHeader ? first : null;
  const lc = labelColumn(header, cols, opts.labelColumn, source);
  const width = cols - (lc >= 0 ? 1 : 0);
  if (width === 0) throw new UserError(`${source}: no feature columns (the only column is the label column)`);
  if (opts.features !== undefined && width !== opts.features) {
    throw new UserError(`${source} has ${width} features per sample, ${opts.consumer ?? "the model"} takes ${opts.features} inputs`);
  }
  // Pass 1: count lines up to the last non-blank one
  let lines = 0;
  lineNo = 1;
  pos = bom;
  while (pos < bytes.length) {
    const { end, next } = lineAt(pos);
    if (!blank(pos, end)) lines = lineNo;
    readerStats.csvLinesCounted++;
    pos = next;
    lineNo++;
  }
  if (lines === 0) throw new UserError(`${source}: empty CSV file (no rows)`);
  const rows = lines - (hasHeader ? 1 : 0);
  if (rows === 0) throw new UserError(`${source}: the CSV has a header row (${showName(text(bom, l1.end), 60)}) and no data rows`);
  if (rows * cols > CSV_MAX_VALUES) throw new UserError(`${source}: ${rows} rows × ${cols} columns exceed ${CSV_MAX_VALUES} values`);
  const count = Math.min(rows, opts.samples ?? rows);
  const need = count * width * 4 + (lc >= 0 ? count * 8 : 0);
  if (need > opts.budget) {
    throw new UserError(`${source}: ${count} rows × ${width} features need ${need} bytes, more than the ${opts.budget} this file may take (256 MiB + 4 × its size); use --samples or a smaller file`);
  }

  // Pass 2: convert the first `count` data rows
  const features = new Float32Array(count * width);
  const labels = lc >= 0 ? new Float64Array(count) : null;
  const maxAbs = opts.maxAbs ?? 3.4028234663852886e38;
  const colName = (c: number) => (header ? ` (${showName(header[c], 40)})` : "");
  const start = hasHeader ? 1 : 0;
  // A row with a cell the fast path does not take: every cell parsed from its text, errors named
  const slowRow = (r: number, from: number, end: number) => {
    const fields = buf.toString("latin1", from, end).split(",");
    if (fields.length !== cols) {
      throw new UserError(`${source}: line ${lineNo} has ${fields.length} fields, expected ${cols}${header ? " (the header's)" : " (the first line's)"}`);
    }
    let k = 0;
    for (let c = 0; c < cols; c++) {
      const s = unquote(fields[c]);
      const where = `${source}: line ${lineNo}, column ${c}${colName(c)}`;
      const shown = () => showName(/[\x80-\xff]/.test(s) ? unquote(text(from, end).split(",")[c] ?? s) : s, 40);
      if (s === "") throw new UserError(`${where}: empty field`);
      if (NONFINITE.test(s)) throw new UserError(`${where}: ${shown()} is not finite; inputs must be finite numbers`);
      if (!DECIMAL.test(s)) throw new UserError(`${where}: ${shown()} is not a number${/^[+-]?0[xXbBoO]|_/.test(s) ? " (only decimal numbers are read)" : ""}`);
      const x = Number(s);
      if (!Number.isFinite(x)) throw new UserError(`${where}: ${shown()} is not finite (beyond float64); inputs must be finite numbers`);
      if (c === lc) { labels![r] = x; continue; }
      if (!(Math.abs(x) <= maxAbs)) check?.(x, lineNo, c);
      features[r * width + k++] = x;
    }
  };
  pos = hasHeader ? l1.next : bom;
  lineNo = start + 1;
  for (let r = 0; r < count; r++, lineNo++) {
    const { end, next } = lineAt(pos);
    // Fast path: plain decimal cells straight from the bytes; anything else goes through slowRow
    let c = 0, k = 0, p = pos, ok = true;
    for (; ok; c++) {
      let q = p;
      while (q < end && bytes[q] !== 44) q++;
      if (c >= cols) { ok = false; break; }
      const x = plainDecimal(bytes, p, q);
      if (x === undefined) { ok = false; break; }
      if (c === lc) labels![r] = x;
      else {
        if (!(Math.abs(x) <= maxAbs)) check?.(x, lineNo, c);
        features[r * width + k++] = x;
      }
      if (q === end) { c++; break; }
      p = q + 1;
    }
    if (!ok || c !== cols) slowRow(r, pos, end);
    readerStats.csvRowsParsed++;
    pos = next;
  }
  return { header, labelColumn: lc, count, width, features, labels, rows, line: (r) => start + r + 1 };
}

const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * The value of the cell bytes[s, e) when it is a plain decimal (spaces or tabs around it, at most 15 significant
 * digits, |exponent − fraction digits| ≤ 22): then one exact integer times or divided by an exact power of ten,
 * correctly rounded, so the same number as Number(text). Anything else (quotes, other forms, errors): undefined.
 */
export function plainDecimal(b: Uint8Array, s: number, e: number): number | undefined {
  while (s < e && (b[s] === 32 || b[s] === 9)) s++;
  while (e > s && (b[e - 1] === 32 || b[e - 1] === 9)) e--;
  let i = s, neg = false;
  if (b[i] === 45) { neg = true; i++; } else if (b[i] === 43) i++;
  let m = 0, digits = 0, frac = 0, any = false;
  for (; i < e && b[i] >= 48 && b[i] <= 57; i++, any = true) {
    if (m !== 0 || b[i] !== 48) digits++;
    m = m * 10 + (b[i] - 48);
  }
  if (i < e && b[i] === 46) {
    for (i++; i < e && b[i] >= 48 && b[i] <= 57; i++, any = true, frac++) {
      if (m !== 0 || b[i] !== 48) digits++;
      m = m * 10 + (b[i] - 48);
    }
  }
  if (!any || digits > 15) return undefined;
  let exp = 0;
  if (i < e && (b[i] === 101 || b[i] === 69)) {
    i++;
    let eneg = false, ed = 0;
    if (b[i] === 45) { eneg = true; i++; } else if (b[i] === 43) i++;
    for (; i < e && b[i] >= 48 && b[i] <= 57 && ed < 4; i++, ed++) exp = exp * 10 + (b[i] - 48);
    if (ed === 0) return undefined;
    if (eneg) exp = -exp;
  }
  if (i !== e) return undefined;
  const k = exp - frac;
  const v = k === 0 ? m : k > 0 && k <= 22 ? m * POW10[k] : k < 0 && k >= -22 ? m / POW10[-k] : undefined;
  return v === undefined ? undefined : neg ? -v : v;
}

/**
 * The label column: `spec` is a header name or a 0-based index; without `spec`, the column named `label`
 * if there is one, else none (-1).
 */
export function labelColumn(header: string[] | null, cols: number, spec: string | undefined, source: string): number {
  if (spec === undefined) return header ? header.indexOf("label") : -1;
  if (/^\d+$/.test(spec)) {
    const c = Number(spec);
    if (c >= cols) throw new UserError(`--label-column ${c}: ${source} has columns 0..${cols - 1}`);
    return c;
  }
  if (!header) throw new UserError(`--label-column ${showName(spec, 40)}: ${source} has no header row; give a 0-based column index`);
  const c = header.indexOf(spec);
  if (c < 0) throw new UserError(`--label-column ${showName(spec, 40)}: no such column in ${source}; its columns are ${header.slice(0, 12).map((h) => showName(h, 24)).join(", ")}${header.length > 12 ? `, … (${header.length})` : ""}`);
  return c;
}
