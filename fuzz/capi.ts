// The fuzz kind "c-api": the C runtime's entry points (kernels/c/include/rankgate.h) built with ASan + UBSan and called
// with random misuse: lengths around the true sizes, NULL pointers, unknown flag bits, misaligned arenas, models
// whose init failed. Each case is one run of kernels/c/test/misuse.c, whose buffers are heap blocks of exactly the
// lengths passed; it must end in the status docs/C-API.md gives those arguments (and, after RG_OK, the
// reference's logits, counters, quantized input or index), never in a sanitizer report.
import { rg_arena_bytes } from "../toolchain/model/c-header.ts";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readModel } from "../runtime/src/format.ts";
import type { QuantModel } from "../runtime/src/model.ts";
import { quantizeModelInput, run_s8, RUN_DENSE, RUN_ZERO_SKIP } from "../runtime/src/reference.ts";
import { Rng } from "../toolchain/model/random.ts";
import { buildSynthetic, toV1 } from "../toolchain/model/synthetic.ts";

export const CAPI_KINDS = ["c-api"] as const;

const ROOT = join(import.meta.dirname, "..");
/** rg_status values (kernels/c/include/rankgate.h). */
const STATUS: Record<number, string> = { 0: "RG_OK", [-1]: "RG_BAD_ARG", [-2]: "RG_BAD_FORMAT", [-3]: "RG_NOT_FINITE", [-4]: "RG_BAD_SIZE" };
const OK = 0, BAD_ARG = -1, BAD_FORMAT = -2, BAD_SIZE = -4;
/** RG_RUN_PORTABLE | RG_RUN_DENSE | RG_RUN_ZERO_SKIP */
const KNOWN_FLAGS = 1 | 2 | 8;
const ENTRIES = ["rg_model_init", "rg_arena_bytes", "rg_infer_s8", "rg_quantize_input_f32", "rg_argmax_s8"] as const;

interface CapiModel {
  path: string;
  bytes: Uint8Array;
  model: QuantModel;
  nIn: number;
  nOut: number;
  layers: number;
  arena: number;
}

let built: { bin: string; models: CapiModel[] } | null = null;

/** Builds kernels/c/test/misuse.c with the runtime under ASan + UBSan (once per process) and writes the models. */
export function warmUpCapi(): { bin: string; models: CapiModel[] } {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "rankgate-fuzz-capi-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, "misuse");
  const sources = readdirSync(join(ROOT, "kernels", "c", "src")).filter((f) => f.endsWith(".c")).sort().map((f) => join(ROOT, "kernels", "c", "src", f));
  const r = spawnSync("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
    "-DRG_EMULATE_DSP", `-I${join(ROOT, "kernels", "c", "include")}`, ...sources, join(ROOT, "kernels", "c", "test", "misuse.c"), "-o", bin], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`fuzz c-api: gcc failed: ${r.error?.message ?? r.stderr}`);
  const v2 = [
    { sizes: [20, 12, 6], ranks: [3] },
    { sizes: [13, 9, 3] },
    { sizes: [12, 10, 8, 4], gates: [3, 0] },
    { sizes: [1, 1, 1], ranks: [1] },
  ].map((o, i) => buildSynthetic({ ...o, seed: 301 + i, calibration: 16 }).bytes);
  const models = [...v2, toV1(v2[0])].map((bytes, i) => {
    const path = join(dir, `m${i}.rgm`);
    writeFileSync(path, bytes);
    const { model } = readModel(bytes);
    return { path, bytes, model, nIn: model.layers[0].nIn, nOut: model.layers.at(-1)!.nOut, layers: model.layers.length, arena: rg_arena_bytes(model) };
  });
  built = { bin, models };
  return built;
}

/** A length near `t`: mostly t, else 0, t ± 1, t ± 8 or anything up to 2t + 16. */
function near(rng: Rng, t: number, exact = 0.75): number {
  if (rng.next() < exact) return t;
  const c = [0, t - 8, t - 1, t + 1, t + 8, rng.int(0, 2 * t + 16)][rng.int(0, 5)];
  return Math.max(0, c);
}

const pattern = (n: number, salt: number) => Int8Array.from({ length: n }, (_, i) => ((i * 37 + salt) & 0xff) << 24 >> 24);

export interface CapiResult {
  index: number;
  model: string;
  input: string;
  outcome: string;
  failure: string | null;
  ms: number;
  inputBytes?: number;
}

/** Case `index` of `seed`: one call, its expected status and outputs, the run under the sanitizers. */
export function runCapiCase(seed: number, index: number): CapiResult {
  const t0 = performance.now();
  const { bin, models } = warmUpCapi();
  const rng = new Rng((seed * 0x9e3779b1) ^ (index * 0x85ebca6b) ^ 0xc4a1);
  const mi = rng.int(0, models.length - 1);
  const M = models[mi];
  const r = rng.next();
  const entry = r < 0.1 ? 0 : r < 0.2 ? 1 : r < 0.65 ? 2 : r < 0.88 ? 3 : 4;
  const state = rng.next() < 0.9 ? 0 : rng.int(1, 2);
  let nulls = 0;
  for (let b = 0; b < 4; b++) if (rng.next() < 1 / 20) nulls |= 1 << b;
  const flags = rng.next() < 0.88 ? rng.int(0, 15) & KNOWN_FLAGS : (rng.int(0, 15) & KNOWN_FLAGS) | (1 << [2, 4, 5, 6, 7, 15, 16, 31][rng.int(0, 7)]);
  const arenaOff = rng.next() < 0.9 ? 0 : rng.int(1, 8);
  const arenaLen = near(rng, M.arena);
  const salt = rng.int(0, 255);
  const statsN = rng.next() < 0.3 ? -1 : rng.next() < 0.3 ? 0 : near(rng, M.layers, 0.8);
  let lenA = 0, lenB = 0;
  if (entry === 0) lenA = near(rng, M.bytes.length);
  else if (entry === 2) [lenA, lenB] = [near(rng, M.nIn), near(rng, M.nOut)];
  else if (entry === 3) [lenA, lenB] = [near(rng, M.nIn), near(rng, M.nIn)];
  else if (entry === 4) lenA = near(rng, M.nOut, 0.85);
  const args = [M.path, entry, state, nulls, flags >>> 0, arenaLen, arenaOff, lenA, lenB, statsN, salt].map(String);
  const what = `${ENTRIES[entry]} model m${mi} state ${["valid", "init failed", "zeroed"][state]} nulls 0b${nulls.toString(2)} flags 0x${(flags >>> 0).toString(16)} ` +
    `arena ${arenaLen}+${arenaOff} (needs ${M.arena}) lenA ${lenA} lenB ${lenB} stats ${statsN} (n_in ${M.nIn}, n_out ${M.nOut}, layers ${M.layers})`;
  const input = `misuse ${args.slice(1).join(" ")}`;

  // Expected status (docs/C-API.md): the pointer and state checks, then the lengths
  const mNull = (nulls & 1) !== 0, p1 = (nulls & 2) !== 0, p2 = (nulls & 4) !== 0, p3 = (nulls & 8) !== 0;
  const live = !mNull && state === 0;
  let want: number;
  if (entry === 0) want = mNull || p1 ? BAD_ARG : lenA === M.bytes.length ? OK : BAD_FORMAT;
  else if (entry === 1) want = OK;
  else if (entry === 2) {
    want = !live || p1 || p2 || p3 || arenaOff % 8 !== 0 || (flags & ~KNOWN_FLAGS) !== 0 ? BAD_ARG
      : arenaLen < M.arena || lenA !== M.nIn || lenB < M.nOut || (statsN > 0 && statsN < M.layers) ? BAD_SIZE : OK;
  } else if (entry === 3) want = !live || p1 || p2 ? BAD_ARG : lenA !== M.nIn || lenB < M.nIn ? BAD_SIZE : OK;
  else want = p1 || p2 || lenA === 0 ? BAD_ARG : OK;

  const p = spawnSync(bin, args, { encoding: "utf8", timeout: 10_000, env: { ...process.env, ASAN_OPTIONS: "detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1" } });
  const done = (outcome: string, failure: string | null = null): CapiResult => ({ index, model: what, input, outcome, failure, ms: performance.now() - t0 });
  if (p.error) return done("FAIL c-api crash", `${p.error.message}; rerun: ${bin} ${args.join(" ")}`);
  if (p.status !== 0 || p.stderr !== "") return done(p.stderr.includes("Sanitizer") ? "FAIL c-api sanitizer" : "FAIL c-api crash", `exit ${p.status} ${p.signal ?? ""}\n${p.stderr.slice(0, 1500)}`);
  const lines = new Map(p.stdout.trim().split("\n").map((l) => [l.split(" ")[0], l.split(" ").slice(1).map(Number)] as const));
  const got = lines.get("status")?.[0];
  if (got !== want) return done("FAIL c-api status", `${ENTRIES[entry]} returned ${got} (${STATUS[got ?? 99] ?? "?"}), expected ${want} (${STATUS[want]})`);

  // What an accepted call wrote equals the reference
  const eq = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);
  if (entry === 1) {
    const arena = lines.get("arena")?.[0];
    if (arena !== (live ? M.arena : 0)) return done("FAIL c-api output", `rg_arena_bytes ${arena}, expected ${live ? M.arena : 0}`);
  } else if (entry === 0 && want === OK) {
    if (lines.get("arena")?.[0] !== M.arena) return done("FAIL c-api output", `rg_arena_bytes after init ${lines.get("arena")?.[0]}, expected ${M.arena}`);
  } else if (entry === 2 && want === OK) {
    const ref = run_s8(M.model, pattern(M.nIn, salt), flags & (RUN_DENSE | RUN_ZERO_SKIP));
    if (!eq(lines.get("logits") ?? [], ref.output)) return done("FAIL c-api output", `logits ${lines.get("logits")}, reference ${Array.from(ref.output)}`);
    if (statsN >= 0) {
      const totals = [ref.counters.reduce((t, c) => t + c.estimatorMacs, 0), ref.counters.reduce((t, c) => t + c.rowMacs, 0)];
      if (!eq(lines.get("totals") ?? [], totals)) return done("FAIL c-api output", `totals ${lines.get("totals")}, reference ${totals}`);
    }
  } else if (entry === 3 && want === OK) {
    const x = Array.from({ length: M.nIn }, (_, i) => Math.fround((((i * 37 + salt) % 251) - 125) / 50));
    const q = new Int8Array(M.nIn);
    quantizeModelInput(M.model, x, q);
    if (!eq(lines.get("q") ?? [], q)) return done("FAIL c-api output", `q ${lines.get("q")}, reference ${Array.from(q)}`);
  } else if (entry === 4) {
    const v = pattern(lenA, salt);
    let best = 0;
    for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
    const index = want === OK ? best : p2 ? 12345 : 0xffffffff;
    if (lines.get("index")?.[0] !== index) return done("FAIL c-api output", `index ${lines.get("index")}, expected ${index}`);
  }
  return done(want === OK ? `c-api ${ENTRIES[entry]} valid` : `c-api ${ENTRIES[entry]} ${STATUS[want]}`);
}
