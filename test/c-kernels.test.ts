// The C kernels' edges on the host (kernels/c/test/harness.c, emulated DSP path and portable path, one build under
// ASan + UBSan with the model in an exactly sized buffer): layer widths around the mask words (31…35, 63…66) and
// the row pairs (1…5), estimator ranks around the groups of four (1…9, 13, 17, 21: t in registers up to 16), inputs
// around the 8-input chunks;
// logits and every counter equal runtime/src/reference.ts run_s8, gated, dense and with zero skipping. The same networks on
// the Helium (MVE) path, cross-built for Cortex-M55 and run under QEMU (mps3-an547), checksum for checksum, and the
// MVE four-lane requantization against the scalar one on edge values.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, expect, it } from "vitest";
import { C_BUILDS, type CBuild } from "./helpers/c-builds.ts";
import { run_s8, RUN_DENSE, RUN_ZERO_SKIP } from "../runtime/src/reference.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { describeWithTools } from "./helpers/system.ts";
import { benchChecksum, BOARDS_DIR, buildImage, buildRankgateImage, parseChecksums, runImage, symbolAddress } from "../bench/qemu.ts";
import type { InferStats } from "../runtime/src/runtime.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "build", "c-kernels-test");
const SOURCES = readdirSync(join(ROOT, "kernels", "c", "src")).filter((f) => f.endsWith(".c")).sort().map((f) => `kernels/c/src/${f}`);
const BUILDS = C_BUILDS;
type Build = CBuild;
const PORTABLE = 1;
const MODES = [0, RUN_DENSE, RUN_ZERO_SKIP];
const FLAGS: Record<Build, number[]> = { plain: MODES, dsp: [...MODES, ...MODES.map((f) => f | PORTABLE)], asan: [...MODES, ...MODES.map((f) => f | PORTABLE)] };

/** Hidden widths × ranks × input widths: every rank that fits, a few input widths each. */
function shapes(): { sizes: number[]; ranks: number[] }[] {
  const out: { sizes: number[]; ranks: number[] }[] = [];
  const inputs = [1, 3, 8, 9, 17, 30, 33];
  let k = 0;
  for (const hidden of [1, 2, 3, 4, 5, 31, 32, 33, 34, 35, 63, 64, 65, 66]) {
    for (const rank of [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 21]) {
      const nIn = rank > 9 ? [30, 33][k++ % 2] : inputs[k++ % inputs.length];
      if (rank > Math.min(nIn, hidden)) continue;
      // the second hidden layer takes the other end of the rank range
      const second = Math.max(1, Math.min(hidden, 9 - Math.min(rank, 8), 5));
      out.push({ sizes: [nIn, hidden, 5, 3], ranks: [rank, second, 0] });
    }
  }
  return out;
}

function harness(b: Build): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", ...BUILDS[b], "-Ikernels/c/include", ...SOURCES, "kernels/c/test/harness.c", "-o", join(OUT, `harness-${b}`)];
    const p = spawn("gcc", args, { cwd: ROOT });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (code) => (code === 0 && stderr === "" ? resolve() : reject(new Error(`gcc ${args.join(" ")}:\n${stderr}`))));
  });
}

/** Runs models × flags × int8 samples through a harness build: per run, per sample, logits and counters. */
function execute(b: Build, cases: { bytes: Uint8Array; nOut: number; layers: number; q: Int8Array; nIn: number }[]) {
  const parts: Buffer[] = [];
  const u32 = (...v: number[]) => { const x = Buffer.alloc(4 * v.length); v.forEach((y, i) => x.writeUInt32LE(y >>> 0, 4 * i)); parts.push(x); };
  for (const c of cases) {
    u32(0x4d, c.bytes.length);
    parts.push(Buffer.from(c.bytes));
    for (const f of FLAGS[b]) { u32(0x52, f, c.q.length / c.nIn, 0); parts.push(Buffer.from(c.q.buffer, c.q.byteOffset, c.q.byteLength)); }
  }
  const job = join(OUT, `job-${b}.bin`), res = join(OUT, `out-${b}.bin`);
  writeFileSync(job, Buffer.concat(parts));
  const r = spawnSync(join(OUT, `harness-${b}`), [job, res], { encoding: "utf8" });
  expect(r.status, `${b}: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe("");
  const o = readFileSync(res);
  let at = 0;
  const u = () => { const v = o.readUInt32LE(at); at += 4; return v; };
  const answers = cases.map((c) => {
    const status = u();
    at += 8 + 48 + 16;
    return {
      status,
      runs: FLAGS[b].map(() => Array.from({ length: c.q.length / c.nIn }, () => {
        const st = u();
        const logits = Array.from(new Int8Array(o.subarray(at, at + c.nOut)));
        at += c.nOut;
        const counters = Array.from({ length: c.layers }, () => [u(), u(), u(), u()]);
        at += 12;
        return { st, logits, counters };
      })),
    };
  });
  expect(at).toBe(o.length);
  return answers;
}

function reference(model: QuantModel, q: Int8Array, nIn: number, flags: number) {
  return Array.from({ length: q.length / nIn }, (_, s) => {
    const r = run_s8(model, q.subarray(s * nIn, (s + 1) * nIn), flags & (RUN_DENSE | RUN_ZERO_SKIP));
    return { st: 0, logits: Array.from(r.output), counters: r.counters.map((c) => [c.estimatorMacs, c.rowMacs, c.rowsComputed, c.rowsSkipped]) };
  });
}

/** The 96 networks and their three samples each (random; mostly the zero point; all the zero point). */
function edgeCases() {
  return shapes().map(({ sizes, ranks }, i) => {
    const { model, bytes, rng } = buildSynthetic({ sizes, ranks, seed: 100 + i, calibration: 16, margins: [-0.05 * (i % 3), 0, 0] });
    const nIn = sizes[0], zp = model.layers[0].inZeroPoint;
    const q = new Int8Array(3 * nIn);
    for (let k = 0; k < nIn; k++) {
      q[k] = rng.int(-128, 127);
      q[nIn + k] = rng.next() < 0.8 ? zp : rng.int(-128, 127);
      q[2 * nIn + k] = zp;
    }
    return { model, bytes, nIn, nOut: sizes[sizes.length - 1], layers: sizes.length - 1, q, what: `sizes ${sizes.join("-")} ranks ${ranks.join("-")}` };
  });
}

describeWithTools(["gcc"], "C kernels at the edges of their loops", () => {
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    await Promise.all((Object.keys(BUILDS) as Build[]).map(harness));
  }, 120_000);

  it("widths around mask words and row pairs, ranks around groups of four, inputs around chunks: run_s8's logits and counters", () => {
    const cases = edgeCases();
    expect(cases.length).toBe(96);
    // every hidden width is gated by the estimator somewhere, and some unit is skipped and some computed
    const skipped = cases.map((c) => reference(c.model, c.q, c.nIn, 0).reduce((t, s) => t + s.counters[0][3], 0));
    expect(skipped.filter((n) => n > 0).length).toBeGreaterThan(cases.length / 2);
    for (const b of Object.keys(BUILDS) as Build[]) {
      const got = execute(b, cases);
      const bad: string[] = [];
      cases.forEach((c, i) => {
        if (got[i].status !== 0) return void bad.push(`${b} ${c.what}: rg_model_init ${got[i].status}`);
        FLAGS[b].forEach((f, k) => {
          const want = reference(c.model, c.q, c.nIn, f);
          if (JSON.stringify(got[i].runs[k]) !== JSON.stringify(want)) bad.push(`${b} ${c.what} flags ${f}: ${JSON.stringify(got[i].runs[k])}, reference ${JSON.stringify(want)}`);
        });
      });
      expect(bad.slice(0, 3)).toEqual([]);
    }
  }, 60_000);
});

describeWithTools(["arm-none-eabi-gcc", "qemu-system-arm"], "C kernels at the edges of their loops: Helium (MVE) on Cortex-M55 under QEMU", () => {
  it("the same 96 networks on mps3-an547, MVE and portable path, gated, dense and zero skip: run_s8's checksum per network and mode", () => {
    const cases = edgeCases();
    const flags = [...MODES, ...MODES.map((f) => f | PORTABLE)];
    const elf = buildRankgateImage({ board: "mps3-an547", cases: cases.map((c) => ({ model: c.bytes, inputs: c.q })), modes: flags, arena: 4096, out: join(OUT, "edges-m55.elf") });
    // the image holds the MVE kernels (and not the DSP ones)
    expect(symbolAddress(elf, "rg_dot4_mve")).toBeGreaterThan(0);
    expect(() => symbolAddress(elf, "rg_span2_dsp")).toThrow(/no symbol/);
    const r = runImage("mps3-an547", elf);
    expect(r.status, r.stdout).toBe(0);
    const got = parseChecksums(r.stdout);
    expect(got.size).toBe(cases.length * flags.length);
    const bad: string[] = [];
    cases.forEach((c, i) => {
      for (const f of flags) {
        const want = reference(c.model, c.q, c.nIn, f).map((x) => ({ logits: Int8Array.from(x.logits), stats: { layers: x.counters.map(([estimatorMacs, rowMacs, rowsComputed, rowsSkipped]) => ({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped })) } as unknown as InferStats }));
        const checksum = benchChecksum(want, true);
        if (got.get(`${i} ${f}`)?.checksum !== checksum) bad.push(`${c.what} flags ${f}: ${got.get(`${i} ${f}`)?.checksum}, run_s8 ${checksum}`);
      }
    });
    expect(bad.slice(0, 3)).toEqual([]);
  }, 120_000);

  it("the four-lane requantization equals the scalar one on every shift with edge and random values (kernels/c/boards/requant-mve.c)", () => {
    const elf = buildImage({ board: "mps3-an547", sources: [join(BOARDS_DIR, "requant-mve.c")], includes: [join(ROOT, "kernels", "c", "include"), join(ROOT, "kernels", "c", "src")], out: join(OUT, "requant-mve.elf") });
    const r = runImage("mps3-an547", elf);
    expect(r.stdout).toBe("requant checked 99200 mismatches 0\n");
    expect(r.status).toBe(0);
  }, 60_000);
});
