import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planArena } from "../runtime/src/arena.ts";
import { readModel } from "../runtime/src/format.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { instantiateKernels } from "../runtime/src/wasm.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const DIST = fileURLToPath(new URL("../cli/dist/rankgate.js", import.meta.url));
const { bytes } = buildSynthetic({ sizes: [20, 16, 12, 4], ranks: [3, 2], seed: 7 });
let dir = "";

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, errLines: r.stderr.split("\n").filter((l) => l.trim()) };
}

function write(name: string, data: Uint8Array): string {
  writeFileSync(join(dir, name), data);
  return name;
}

/** A user error: exit 1, one line naming the problem (a usage error adds a hint line), no stack. */
function expectUserError(r: ReturnType<typeof cli>, ...parts: string[]) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.errLines.length, r.stderr).toBe(r.stderr.includes("--help") ? 2 : 1);
  expect(r.errLines[0]).toMatch(/^rankgate: /);
  for (const p of parts) expect(r.errLines[0]).toContain(p);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).toBe("");
}

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` before the CLI tests`);
  dir = mkdtempSync(join(tmpdir(), "rankgate-cli-"));
  write("model.rgm", bytes);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("rankgate inspect", () => {
  it("prints the layer table, totals and arena plan", async () => {
    const r = cli("inspect", "model.rgm");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toContain("\x1b[");
    const row = (...cells: (string | number)[]) => new RegExp(cells.map((c) => `\\b${c}\\b`).join("[^\\n]*"));
    expect(r.stdout).toMatch(row(0, 20, 16, "relu", 3));
    expect(r.stdout).toMatch(row(1, 16, 12, "relu", 2));
    expect(r.stdout).toMatch(row(2, 12, 4, "none"));
    const { model, image } = readModel(bytes);
    const arena = planArena(model, image.length, (await instantiateKernels()).heapBase());
    expect(r.stdout).toMatch(new RegExp(`total[^\\n]*${arena.totalBytes.toLocaleString("en-US")}`));
    expect(r.stdout).toMatch(/pages[^\n]*1 × 64 KiB/);
  });

  it("--json prints one object whose numbers match readModel and planArena", async () => {
    const r = cli("inspect", "model.rgm", "--json");
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    const { model, image, sections } = readModel(bytes);
    const heapBase = (await instantiateKernels()).heapBase();
    expect(info.arena).toEqual({ heapBase, ...planArena(model, image.length, heapBase) });
    expect(info.sections).toEqual(sections);
    expect(info.layers.map((l: { nIn: number; nOut: number; rank: number }) => [l.nIn, l.nOut, l.rank])).toEqual([[20, 16, 3], [16, 12, 2], [12, 4, 0]]);
    // --model, as every other command takes it, prints the same
    const byFlag = cli("inspect", "--model", "model.rgm", "--json");
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.stdout).toBe(r.stdout);
    const layers = model.layers;
    const dense = layers.reduce((t, l) => t + l.nIn * l.nOut, 0);
    const est = layers.reduce((t, l) => t + (l.estimator ? l.estimator.rank * (l.nIn + l.nOut) : 0), 0);
    expect(info.totals).toMatchObject({
      layers: 3, fileBytes: bytes.length, denseMacs: dense, estimatorMacs: est,
      parameters: dense + layers.reduce((t, l) => t + l.nOut, 0) + est,
      weightBytes: sections.filter((s) => !s.name.startsWith("est_")).reduce((t, s) => t + s.bytes, 0),
      estimatorBytes: sections.filter((s) => s.name.startsWith("est_")).reduce((t, s) => t + s.bytes, 0),
    });
    expect(info.layers[0]).toMatchObject({ inScale: layers[0].inScale, outZeroPoint: layers[0].outZeroPoint, tMax: layers[0].estimator!.tMax });
  });

  it("--sections lists every section", () => {
    const r = cli("inspect", "--sections", "model.rgm");
    expect(r.code, r.stderr).toBe(0);
    for (const name of ["weights", "est_a", "est_threshold"]) expect(r.stdout).toContain(name);
  });

  it("a truncated file is a FormatError on file_bytes", () => {
    expectUserError(cli("inspect", write("short.rgm", bytes.subarray(0, bytes.length - 16))), "short.rgm", "file_bytes at offset 8");
  });

  it("a flipped magic byte is a FormatError on magic", () => {
    const bad = bytes.slice();
    bad[1] ^= 0x20;
    expectUserError(cli("inspect", write("magic.rgm", bad)), "magic.rgm", "magic at offset 0", '"RGMF"');
  });

  it("a flipped weight bit is a FormatError on crc32", () => {
    const bad = bytes.slice();
    const w = readModel(bytes).sections.find((s) => s.layer === 1 && s.name === "weights")!;
    bad[w.offset + 5] ^= 0x10;
    expectUserError(cli("inspect", write("crc.rgm", bad)), "crc.rgm", "crc32 at offset 12");
  });

  it("a missing file names the path", () => {
    expectUserError(cli("inspect", "nope.rgm"), "nope.rgm", "no such file");
  });
});

describe("rankgate usage", () => {
  it("an unknown command exits 1 with a hint", () => {
    const r = cli("frobnicate");
    expectUserError(r, "unknown command 'frobnicate'");
    expect(r.errLines).toEqual(["rankgate: unknown command 'frobnicate'", "run 'rankgate --help'"]);
  });

  it("an unknown flag exits 1 and points at the command's help", () => {
    const r = cli("inspect", "--frob", "model.rgm");
    expectUserError(r, "unknown option '--frob'");
    expect(r.errLines).toEqual(["rankgate: unknown option '--frob'", "run 'rankgate inspect --help'"]);
  });

  it("a missing argument exits 1", () => {
    expectUserError(cli("import", "-o", "x.safetensors"), "missing required argument 'input'");
  });

  it.each([[["--help"]], [["inspect", "--help"]]])("%j exits 0 with usage", (args) => {
    const r = cli(...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: rankgate/);
    expect(r.stdout).toContain(args.length > 1 ? "--json" : "inspect");
  });
});

describe("the CLI bundle", () => {
  it("importing cli/dist/rankgate.js runs nothing and exports run()", () => {
    const bundle = new URL("../cli/dist/rankgate.js", import.meta.url).href;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(bundle)}); console.log(Object.keys(m).join(","), typeof m.run)`, "--", "--help"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("run function\n");
  });
});
