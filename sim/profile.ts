// Target profiles: one JSON file per microcontroller in sim/targets/, checked against
// sim/target.schema.json when loaded. A bad file is a ProfileError naming file and field.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv, { type ErrorObject } from "ajv";
import { UserError, showName, showValue } from "../runtime/src/index.ts";
import { readFileForUser } from "../toolchain/io/files.ts";
import { parseJsonBounded } from "../toolchain/io/json.ts";

/** Largest target profile file read (the built-in ones are under 5 KB). */
export const PROFILE_MAX_BYTES = 256 * 1024;
/** Deepest JSON nesting in a target profile (the schema needs 3). */
export const PROFILE_MAX_DEPTH = 16;

export interface TargetProfile {
  name: string;
  title: string;
  core: string;
  parts: string[];
  clock_hz: number;
  memory: { flash_bytes: number; sram_bytes: number; code_bytes: number; stack_bytes: number };
  cycles: {
    mac_scalar: number;
    /** null: no SIMD inner loop. */
    mac_simd: number | null;
    simd_width: number;
    mac_gather: number;
    widen_per_input: number;
    row_overhead: number;
    requantize: number;
    compare_unit: number;
    mask_word: number;
    mask_bit: number;
    has_clz: boolean;
    gather_per_input: number;
    gather_per_nonzero: number;
    fill_per_byte: number;
    /** The C runtime's Helium (MVE) kernels (sim/cost.ts counts their loops); absent: DSP or portable. */
    vector_kernels?: "mve";
  };
  flash: { line_bytes: number; miss_cycles: number; cache_bytes: number };
  power: { active_mw: number };
  /**
   * Structural cycle parameters fitted by sim/fit.ts to measured counts (docs/SIMULATOR.md); the cited
   * `cycles` above stay as they are. mac_simd absent: no SIMD body.
   */
  fitted?: {
    cycles: { mac_simd?: number; mac_scalar: number; step: number; chunk: number; row: number; rank: number; block: number; unit: number; mask: number; input: number; test: number; scan: number; layer: number; inference: number };
    fit: { kind: "fitted"; cite: string; c_sources_sha256: string; fit_models: string[]; held_out_models: string[] };
  };
  sources: Record<string, { kind: SourceKind; cite: string }>;
}

export type SourceKind = "datasheet" | "manual" | "paper" | "vendor" | "measurement" | "derived" | "assumption";

/** A target profile breaks the schema: names the file, the dotted field, what was expected and what was found. */
export class ProfileError extends UserError {
  override name = "ProfileError";
  constructor(readonly file: string, readonly field: string, readonly expected: string, readonly actual: string) {
    super(`${file}: ${field || "(top level)"}: expected ${expected}, got ${actual}`);
  }
}

/** The folder of the built-in profiles (the same relative path from sim/ and from the bundle in dist/). */
export const BUILTIN_TARGETS_DIR = fileURLToPath(new URL("../sim/targets/", import.meta.url));
const SCHEMA_PATH = fileURLToPath(new URL("../sim/target.schema.json", import.meta.url));

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
let validator: { validate: Validator; schema: Record<string, unknown> } | undefined;

function schemaValidator() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
    const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false });
    validator = { validate: ajv.compile(schema) as Validator, schema };
  }
  return validator;
}

const show = (v: unknown) => showValue(v);
/** A dotted field path whose segments come from the file: plain names as they are, others quoted and escaped. */
const dotted = (segments: string[]) => segments.map((s) => (/^[A-Za-z0-9_.-]{1,40}$/.test(s) ? s : showName(s, 40))).join(".");

function valueAt(data: unknown, path: string[]): unknown {
  let v: unknown = data;
  for (const p of path) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** One ajv error as file, dotted field, expected and actual. */
function toProfileError(file: string, data: unknown, e: ErrorObject): ProfileError {
  const path = e.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  // Inside "sources" the keys are themselves dotted paths
  const field = (extra?: string) => dotted([...path, ...(extra !== undefined ? [extra] : [])]);
  const actual = valueAt(data, path);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return new ProfileError(file, field(String(p.missingProperty)), path[0] === "sources" ? "a source entry { kind, cite } for this number" : "a value (required)", "nothing");
    case "additionalProperties":
      return new ProfileError(file, field(String(p.additionalProperty)), "no such field", "one");
    case "type":
      return new ProfileError(file, field(), `type ${Array.isArray(p.type) ? p.type.join(" or ") : String(p.type)}`, show(actual));
    case "exclusiveMinimum":
      return new ProfileError(file, field(), `a number > ${String(p.limit)}`, show(actual));
    case "minimum":
      return new ProfileError(file, field(), `a number ≥ ${String(p.limit)}`, show(actual));
    case "enum":
      return new ProfileError(file, field(), `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`, show(actual));
    case "minLength":
    case "minItems":
      return new ProfileError(file, field(), `at least ${String(p.limit)} ${e.keyword === "minLength" ? "characters" : "items"}`, show(actual));
    case "pattern":
      return new ProfileError(file, field(), `a string matching ${String(p.pattern)}`, show(actual));
    default:
      return new ProfileError(file, field(), e.message ?? e.keyword, show(actual));
  }
}

/** Checks one parsed profile; `file` names it in errors and its stem must equal `name`. */
export function validateProfile(data: unknown, file: string): TargetProfile {
  const { validate } = schemaValidator();
  if (!validate(data)) throw toProfileError(file, data, validate.errors![0]);
  const t = data as TargetProfile;
  const stem = basename(file).replace(/\.json$/, "");
  if (t.name !== stem) throw new ProfileError(file, "name", `"${stem}" (the file name without .json)`, show(t.name));
  if ((t.cycles.mac_simd === null) !== (t.cycles.simd_width === 0)) {
    throw new ProfileError(file, "cycles.simd_width", t.cycles.mac_simd === null ? "0 (mac_simd is null)" : "> 0 (mac_simd is set)", show(t.cycles.simd_width));
  }
  return t;
}

/** Reads and validates one profile file. */
export function readProfile(path: string): TargetProfile {
  const bytes = readFileForUser(path, PROFILE_MAX_BYTES);
  const data = parseJsonBounded(new TextDecoder().decode(bytes), PROFILE_MAX_DEPTH, (expected, actual) => {
    throw new ProfileError(path, "", expected, actual);
  });
  return validateProfile(data, path);
}

/** Every *.json profile in `dir` (default: the built-in targets), sorted by name. */
export function loadTargets(dir = BUILTIN_TARGETS_DIR): TargetProfile[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  } catch (err) {
    throw new UserError(`${dir}: cannot list target profiles (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (files.length === 0) throw new UserError(`${dir}: no target profiles (*.json)`);
  return files.map((f) => readProfile(join(dir, f)));
}

/** The profile called `name`; an unknown name is a UserError listing the known ones. */
export function findTarget(name: string, dir?: string): TargetProfile {
  const targets = loadTargets(dir);
  const t = targets.find((x) => x.name === name);
  if (!t) throw new UserError(`unknown target ${showName(name)}; known targets: ${targets.map((x) => x.name).join(", ")}`);
  return t;
}
