// Untrusted values outside the model reader: target profiles (size, depth, long and escaped values) and
// the documented limits of docs/ROBUSTNESS.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTIN_TARGETS_DIR, PROFILE_MAX_BYTES, PROFILE_MAX_DEPTH, ProfileError, readProfile } from "../sim/profile.ts";
import { UserError } from "../runtime/src/errors.ts";
import { jsonDepth } from "../toolchain/io/json.ts";
import { fileURLToPath } from "node:url";
import { crc32 } from "../runtime/src/crc32.ts";
import { HEADER_BYTES, readModel, writeModel } from "../runtime/src/format.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { INT32_MAX, quantizeInput } from "../runtime/src/quant.ts";
import { loadDataset } from "../toolchain/data/index.ts";
import { requantize_s32, run_s8, RUN_DENSE } from "../runtime/src/reference.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { thrown } from "./helpers/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "rankgate-robust-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const good = JSON.parse(readFileSync(join(BUILTIN_TARGETS_DIR, "cortex-m4f.json"), "utf8"));

/** The ProfileError of cortex-m4f.json with `text` as its content. */
function profileError(text: string): Error {
  const path = join(dir, "cortex-m4f.json");
  writeFileSync(path, text);
  const err = thrown(() => readProfile(path)) as Error;
  expect(err).toBeInstanceOf(UserError);
  expect(err.message).not.toMatch(/[^\x20-\x7e…≥≤]/);
  return err;
}

describe("target profiles", () => {
  it("the built-in profiles are within the limits", () => {
    for (const f of ["cortex-m0plus", "cortex-m4f", "cortex-m55", "cortex-m7", "esp32-s3", "rv32imc"]) {
      const text = readFileSync(join(BUILTIN_TARGETS_DIR, `${f}.json`), "utf8");
      expect(text.length).toBeLessThan(PROFILE_MAX_BYTES);
      expect(jsonDepth(text)).toBeLessThanOrEqual(PROFILE_MAX_DEPTH);
    }
  });

  it("JSON nested 20,000 deep, at the top or in a field, is a ProfileError naming the depth limit", () => {
    for (const text of ["[".repeat(20000) + "]".repeat(20000), JSON.stringify({ ...good, title: 0 }).replace("\"title\":0", `"title":${"[".repeat(20000)}${"]".repeat(20000)}`)]) {
      const err = profileError(text);
      expect(err).toBeInstanceOf(ProfileError);
      expect(err.message).toBe(`${join(dir, "cortex-m4f.json")}: (top level): expected JSON nested at most ${PROFILE_MAX_DEPTH} deep, got deeper than ${PROFILE_MAX_DEPTH}`);
    }
    // Exactly at the limit: parsed, then the schema names the field, the value shown bounded
    const deep = profileError(JSON.stringify({ ...good, title: JSON.parse("[".repeat(PROFILE_MAX_DEPTH - 1) + "]".repeat(PROFILE_MAX_DEPTH - 1)) }));
    expect(deep.message).toMatch(/: title: expected type string, got \[\[\[\[…\]\]\]\]$/);
  });

  it("brackets inside strings do not count; escaped quotes end no string", () => {
    expect(jsonDepth('{"a":"[[[[\\"[[[[","b":[1]}')).toBe(2);
    expect(jsonDepth("[]")).toBe(1);
    expect(jsonDepth("7")).toBe(0);
  });

  it("a 200,000-character string (a 5 MB one is over the size limit), a control character and an ANSI escape are shown bounded and escaped", () => {
    const long = profileError(JSON.stringify({ ...good, title: 5, core: "x".repeat(200_000) })) as ProfileError;
    expect(long.message.length).toBeLessThan(300);
    const huge = profileError(JSON.stringify({ ...good, clock_hz: "y".repeat(200_000) }));
    expect(huge.message).toMatch(/clock_hz: expected type number, got "y{80}"… \(200000 characters\)$/);
    const ansi = profileError(JSON.stringify({ ...good, cycles: { ...good.cycles, "\u001b[31mred\nline": 1 } }));
    expect(ansi.message).toMatch(/: cycles\."\\u001b\[31mred\\nline": expected no such field, got one$/);
  });

  it("a file over the size limit is refused before it is read", () => {
    const err = profileError(" ".repeat(PROFILE_MAX_BYTES + 1));
    expect(err.message).toBe(`${join(dir, "cortex-m4f.json")}: ${PROFILE_MAX_BYTES + 1} bytes, more than the ${PROFILE_MAX_BYTES} this file may have`);
  });

  it("a JSON syntax error is one printable line", () => {
    const err = profileError('{"a": "\u001b[2J' + "z".repeat(1000));
    expect(err.message).toMatch(/: \(top level\): expected valid JSON, got .{1,121}$/);
  });
});

describe("docs/FORMAT.md's loose ends, as numbers", () => {
  it("(a) the quantizer's biases cannot wrap the row accumulator; a dead unit gets bias 0", async () => {
    const { Quantizer } = await import("../toolchain/quantize/quantize.ts");
    const { biasNoWrapLimit } = await import("../runtime/src/quant.ts");
    const { Rng } = await import("../toolchain/model/random.ts");
    const { syntheticFloat, syntheticInputs } = await import("../toolchain/model/synthetic.ts");
    const rng = new Rng(3);
    const float = syntheticFloat(rng, [12, 6, 3]);
    const w = float.layers[0].weight;
    for (let i = 0; i < 12; i++) {
      w[0 * 12 + i] = 1e-30; // unit 0: dead (its multiplier underflows to 0)
      w[1 * 12 + i] = 1e-3; // unit 1: alive, a bias far beyond int32 in its own scale
    }
    float.layers[0].bias[0] = -5;
    float.layers[0].bias[1] = -1e6;
    const q = new Quantizer(float, syntheticInputs(rng, 16, 12), 16, { min: 0, max: 1 }).model({});
    const l0 = q.layers[0];
    expect([l0.multiplier[0], l0.bias[0]]).toEqual([0, 0]);
    expect(l0.multiplier[1]).not.toBe(0);
    expect(l0.bias[1]).toBe(-biasNoWrapLimit(12));
    expect(biasNoWrapLimit(12)).toBe(2147095027);
    expect(biasNoWrapLimit(65535)).toBe(25132672);
    for (const l of q.layers) for (const b of l.bias) expect(Math.abs(b)).toBeLessThanOrEqual(biasNoWrapLimit(l.nIn));
  });

  it("(a) models/condnet-mnist.rgm (quantized before that rule) has exactly 8 units whose bias can wrap, all with multiplier 0", async () => {
    const { biasNoWrapLimit } = await import("../runtime/src/quant.ts");
    const m = readModel(new Uint8Array(readFileSync(fileURLToPath(new URL("../models/condnet-mnist.rgm", import.meta.url))))).model;
    const risky = m.layers.flatMap((l, li) => [...l.bias].map((b, j) => ({ li, j, b, mult: l.multiplier[j] })).filter((u) => Math.abs(u.b) > biasNoWrapLimit(l.nIn)));
    expect(risky.length).toBe(8);
    expect(risky.every((u) => u.b === -(2 ** 31) && u.mult === 0)).toBe(true);
    const paper = readModel(new Uint8Array(readFileSync(fileURLToPath(new URL("../models/paper.rgm", import.meta.url))))).model;
    expect(paper.layers.every((l) => l.bias.every((b) => Math.abs(b) <= biasNoWrapLimit(l.nIn)))).toBe(true);
  });

  it("(b) z_out + requantize(acc) wraps in int32 before the clamp, in the engine and the reference alike", async () => {
    const model: QuantModel = { layers: [{
      nIn: 1, nOut: 2, activation: "none", inScale: 1, inZeroPoint: 0, outScale: 1, outZeroPoint: 127,
      weights: new Int8Array([0, 0]), bias: new Int32Array([INT32_MAX - 10, 1000]), multiplier: new Int32Array([INT32_MAX, INT32_MAX]), shift: new Int32Array([0, 0]),
      estimator: null, gate: null,
    }] };
    const r = requantize_s32(INT32_MAX - 10, INT32_MAX, 0);
    expect(r).toBe(INT32_MAX - 11);
    expect(r + 127).toBeGreaterThan(INT32_MAX); // exact sum: above int32, so it wraps to −2^31 + 115
    const ref = run_s8(model, new Int8Array([5])).output;
    expect([...ref]).toEqual([-128, 127]); // wrapped to a negative, clamped to −128 (unwrapped: 127)
    const engine = await Engine.fromModel(model);
    expect([...engine.infer(new Int8Array([5])).logits]).toEqual([-128, 127]);
    expect([...engine.infer(new Int8Array([5]), { simd: false }).logits]).toEqual([-128, 127]);
  });

  it("(d) models/paper.rgm is version 1, models/condnet-mnist.rgm version 2; the writer writes 2", () => {
    const version = (f: string) => new DataView(readFileSync(fileURLToPath(new URL(`../models/${f}`, import.meta.url))).buffer.slice(0)).getUint16(4, true);
    expect(version("paper.rgm")).toBe(1);
    expect(version("condnet-mnist.rgm")).toBe(2);
    const paper = readModel(new Uint8Array(readFileSync(fileURLToPath(new URL("../models/paper.rgm", import.meta.url))))).model;
    expect(new DataView(writeModel(paper).buffer).getUint16(4, true)).toBe(2);
  });

  it("(e) an int8 section ending at the end of the file: its over-read lands in the engine's plan records, results equal the reference", async () => {
    const { model } = buildSynthetic({ sizes: [12, 4, 3], ranks: [2], seed: 9, calibration: 8 });
    const file = writeModel(model);
    const w = model.layers[0].weights; // 48 bytes: rows of 12, the last step of each row reads 4 bytes past it
    const out = new Uint8Array(file.length + w.length);
    out.set(file);
    out.set(new Uint8Array(w.buffer, w.byteOffset, w.length), file.length);
    out.fill(0x7f, SECTIONS_WEIGHTS_AT(file), SECTIONS_WEIGHTS_AT(file) + w.length); // the old place: now unused padding
    const dv = new DataView(out.buffer);
    dv.setUint32(8, out.length, true);
    dv.setUint32(HEADER_BYTES + 40, file.length, true); // layers[0].weights_offset: the last 48 bytes
    dv.setUint32(12, crc32(out, 16), true);
    const parsed = readModel(out);
    const s = parsed.sections.find((x) => x.layer === 0 && x.name === "weights")!;
    expect(s.offset + s.bytes).toBe(out.length);
    const engine = await Engine.load(out);
    const { arena } = engine.internals;
    expect(arena.plan.offset).toBe(arena.model.offset + arena.model.bytes); // what follows the image: ≥ 8 readable bytes
    expect(arena.plan.bytes).toBeGreaterThanOrEqual(8);
    const rng = new (await import("../toolchain/model/random.ts")).Rng(4);
    for (let k = 0; k < 50; k++) {
      const x = Int8Array.from({ length: 12 }, () => rng.int(-128, 127));
      for (const flags of [0, RUN_DENSE]) {
        const want = run_s8(parsed.model, x, flags).output;
        for (const simd of [true, false]) for (const zeroSkip of [false, true]) {
          expect([...engine.infer(x, { gating: flags === 0, simd, zeroSkip }).logits]).toEqual([...want]);
        }
      }
    }
  });
});

const SECTIONS_WEIGHTS_AT = (file: Uint8Array) => new DataView(file.buffer, file.byteOffset).getUint32(HEADER_BYTES + 40, true);

describe("format v3 leaves older files alone", () => {
  const models = ["paper", "condnet-mnist", "mnist-best", "mcu"].map((name) => ({ name, bytes: new Uint8Array(readFileSync(fileURLToPath(new URL(`../models/${name}.rgm`, import.meta.url)))) }));
  const test = loadDataset({ data: "mnist:test", samples: 64 });

  it("committed models: v2 files are rewritten byte for byte (v1 as v2); float inputs give the logits of the pre-v3 definition (runtime/src/quant.ts quantizeInput, one scale)", async () => {
    for (const { name, bytes } of models) {
      const version = new DataView(bytes.buffer, bytes.byteOffset).getUint16(4, true);
      expect(version, name).toBeLessThanOrEqual(2);
      const parsed = readModel(bytes);
      expect(parsed.model.inputFeatures, name).toBeUndefined();
      if (version === 2) expect(writeModel(parsed.model), name).toEqual(bytes);
      const l0 = parsed.model.layers[0];
      for (const module of ["simd", "mvp"] as const) {
        const engine = await Engine.load(bytes, { module });
        const got = engine.inferBatch(test.features).logits;
        for (let s = 0; s < test.count; s++) {
          const q = quantizeInput(test.features.subarray(s * 784, (s + 1) * 784), l0.inScale, l0.inZeroPoint, new Int8Array(784));
          expect(Array.from(got.subarray(s * engine.outputSize, (s + 1) * engine.outputSize)), `${name} ${module} sample ${s}`).toEqual(Array.from(run_s8(parsed.model, q).output));
        }
      }
    }
  });
});
