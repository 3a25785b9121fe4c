// Numeric CSV: comma-separated, an optional header row, one sample per line.
import { FormatError, UserError } from "../../runtime/src/errors.ts";
import { showName } from "../../runtime/src/show.ts";

export interface CsvTable {
  /** Column names (null without a header row). */
  header: string[] | null;
  rows: number;
  cols: number;
  /** rows × cols values, row-major (NaN/±Inf already refused). */
  values: Float64Array;
  /** File line number (1-based) of data row r. */
  line(r: number): number;
}

const NONFINITE = /^[+-]?(nan|inf|infinity)$/i;
const unquote = (s: string) => {
  const t = s.trim();
  return t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"' ? t.slice(1, -1).replaceAll('""', '"') : t;
};
const isNumber = (s: string) => s !== "" && (NONFINITE.test(s) || Number.isFinite(Number(s)));

/** Bytes allowed for a CSV file (it is decoded as text). */
export const CSV_MAX_BYTES = 512 * 1024 * 1024;

/** Parses a numeric CSV; every bad field is a UserError naming file, line and column (0-based) and the value. */
export function parseCsv(bytes: Uint8Array, source: string): CsvTable {
  if (bytes.length > CSV_MAX_BYTES) throw new FormatError("length", 0, `<= ${CSV_MAX_BYTES} bytes`, `${bytes.length} bytes`, source);
  let text = new TextDecoder().decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  if (lines.length === 0) throw new UserError(`${source}: empty CSV file (no rows)`);
  const first = lines[0].split(",").map(unquote);
  const header = first.every(isNumber) ? null : first;
  const start = header ? 1 : 0;
  const rows = lines.length - start;
  if (rows === 0) throw new UserError(`${source}: the CSV has a header row (${showName(lines[0], 60)}) and no data rows`);
  const cols = first.length;
  if (rows * cols > 2 ** 30) throw new UserError(`${source}: ${rows} rows × ${cols} columns exceed ${2 ** 30} values`);
  const values = new Float64Array(rows * cols);
  const colName = (c: number) => (header ? ` (${showName(header[c], 40)})` : "");
  for (let r = 0; r < rows; r++) {
    const line = start + r + 1;
    const fields = lines[start + r].split(",");
    if (fields.length !== cols) {
      throw new UserError(`${source}: line ${line} has ${fields.length} fields, expected ${cols}${header ? " (the header's)" : " (the first line's)"}`);
    }
    for (let c = 0; c < cols; c++) {
      const s = unquote(fields[c]);
      const x = s === "" ? NaN : Number(s);
      if (s === "") throw new UserError(`${source}: line ${line}, column ${c}${colName(c)}: empty field`);
      if (NONFINITE.test(s) || (Number.isNaN(x) === false && !Number.isFinite(x))) {
        throw new UserError(`${source}: line ${line}, column ${c}${colName(c)}: ${showName(s, 40)} is not finite; inputs must be finite numbers`);
      }
      if (!Number.isFinite(x)) throw new UserError(`${source}: line ${line}, column ${c}${colName(c)}: ${showName(s, 40)} is not a number`);
      values[r * cols + c] = x;
    }
  }
  return { header, rows, cols, values, line: (r) => start + r + 1 };
}

/**
 * The label column of a CSV: `spec` is a header name or a 0-based index; without `spec`, the column
 * named `label` if there is one, else none (-1).
 */
export function labelColumn(t: CsvTable, spec: string | undefined, source: string): number {
  if (spec === undefined) return t.header ? t.header.indexOf("label") : -1;
  if (/^\d+$/.test(spec)) {
    const c = Number(spec);
    if (c >= t.cols) throw new UserError(`--label-column ${c}: ${source} has columns 0..${t.cols - 1}`);
    return c;
  }
  if (!t.header) throw new UserError(`--label-column ${showName(spec, 40)}: ${source} has no header row; give a 0-based column index`);
  const c = t.header.indexOf(spec);
  if (c < 0) throw new UserError(`--label-column ${showName(spec, 40)}: no such column in ${source}; its columns are ${t.header.slice(0, 12).map((h) => showName(h, 24)).join(", ")}${t.header.length > 12 ? `, … (${t.header.length})` : ""}`);
  return c;
}
