// One status table for the Wasm kernels (kernels/wasm/status.ts STATUS_*) and the C runtime
// (kernels/c/include/rankgate.h rg_status RG_*): a number means one thing, under one name, in both; the runtime's
// names (runtime/src/errors.ts STATUS_NAMES) and docs/FORMAT.md's table say the same.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { STATUS_NAMES } from "../runtime/src/errors.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

type Table = [name: string, value: number][];

/** `export const STATUS_X: i32 = N;` of kernels/wasm/status.ts, names without the prefix. */
function wasmStatuses(ts: string): Table {
  return [...ts.matchAll(/^export const STATUS_(\w+): i32 = (-?\d+);/gm)].map((m) => [m[1], Number(m[2])]);
}

/** `RG_X = N` inside rankgate.h's `typedef enum rg_status { … } rg_status;`, names without the prefix. */
function cStatuses(h: string): Table {
  const body = /typedef enum rg_status \{([\s\S]*?)\} rg_status;/.exec(h)?.[1];
  if (body === undefined) throw new Error("rankgate.h: no typedef enum rg_status");
  const code = body.replace(/\/\*[\s\S]*?\*\//g, "");
  return [...code.matchAll(/\bRG_(\w+)\s*=\s*(-?\d+)/g)].map((m) => [m[1], Number(m[2])]);
}

/** Every way the two tables disagree: a number with two names (in one table or across), a name with two numbers. */
function conflicts(wasm: Table, c: Table): string[] {
  const out: string[] = [];
  for (const [side, t] of [["wasm", wasm], ["c", c]] as const) {
    const byValue = new Map<number, string>(), byName = new Map<string, number>();
    for (const [n, v] of t) {
      if (byValue.has(v)) out.push(`${side}: ${v} is both ${byValue.get(v)} and ${n}`);
      if (byName.has(n)) out.push(`${side}: ${n} is both ${byName.get(n)} and ${v}`);
      byValue.set(v, n);
      byName.set(n, v);
    }
  }
  for (const [n, v] of wasm) {
    for (const [cn, cv] of c) {
      if (v === cv && n !== cn) out.push(`${v} is STATUS_${n} in Wasm and RG_${cn} in C`);
      if (n === cn && v !== cv) out.push(`${n} is ${v} in Wasm (STATUS_${n}) and ${cv} in C (RG_${cn})`);
    }
  }
  return out;
}

const WASM = wasmStatuses(read("kernels/wasm/status.ts"));
const C = cStatuses(read("kernels/c/include/rankgate.h"));

describe("status codes: one table for Wasm and C", () => {
  it("reads both tables whole", () => {
    expect(WASM).toEqual([["OK", 0], ["BAD_ARG", -1], ["NOT_FINITE", -3], ["BAD_SIZE", -4]]);
    expect(C).toEqual([["OK", 0], ["BAD_ARG", -1], ["BAD_FORMAT", -2], ["NOT_FINITE", -3], ["BAD_SIZE", -4]]);
  });

  it("no number means two things and no name has two numbers", () => {
    expect(conflicts(WASM, C)).toEqual([]);
  });

  it("the check fails on a number reused for another meaning, a name on two numbers, a duplicate in one table", () => {
    // The table before issue 24: Wasm's out-of-bounds was −2, C's bad format
    expect(conflicts([["OK", 0], ["OUT_OF_BOUNDS", -2]], [["OK", 0], ["BAD_FORMAT", -2]])).toEqual(["-2 is STATUS_OUT_OF_BOUNDS in Wasm and RG_BAD_FORMAT in C"]);
    expect(conflicts([["BAD_SIZE", -5]], [["BAD_SIZE", -4]])).toEqual(["BAD_SIZE is -5 in Wasm (STATUS_BAD_SIZE) and -4 in C (RG_BAD_SIZE)"]);
    expect(conflicts([["A", -1], ["B", -1]], [])).toEqual(["wasm: -1 is both A and B"]);
    expect(cStatuses("typedef enum rg_status {\n  RG_OK = 0,\n  /** x = 3 */\n  RG_BAD = -7\n} rg_status;")).toEqual([["OK", 0], ["BAD", -7]]);
  });

  it("the runtime names every Wasm status by its number (runtime/src/errors.ts, runtime.ts)", () => {
    expect(STATUS_NAMES).toEqual(Object.fromEntries(WASM.map(([n, v]) => [v, `STATUS_${n}`])));
    const notFinite = /const STATUS_NOT_FINITE = (-?\d+);/.exec(read("runtime/src/runtime.ts"))?.[1];
    expect(Number(notFinite)).toBe(WASM.find(([n]) => n === "NOT_FINITE")?.[1]);
  });

  it("docs/FORMAT.md's status table lists every code with its C and Wasm names", () => {
    const doc = read("docs/FORMAT.md");
    const section = doc.slice(doc.indexOf("## Status codes"), doc.indexOf("\n## ", doc.indexOf("## Status codes") + 3));
    const rows = [...section.matchAll(/^\| (−?\d+) \| (`RG_\w+`|—) \| (`STATUS_\w+`|—) \|/gm)].map((m) => [Number(m[1].replace("−", "-")), m[2], m[3]]);
    const values = [...new Set([...C, ...WASM].map(([, v]) => v))].sort((a, b) => b - a);
    expect(rows).toEqual(values.map((v) => {
      const c = C.find(([, x]) => x === v), w = WASM.find(([, x]) => x === v);
      return [v, c ? `\`RG_${c[0]}\`` : "—", w ? `\`STATUS_${w[0]}\`` : "—"];
    }));
  });
});
