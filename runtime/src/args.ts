// Checking arguments of the public API. Typed arrays are recognised by their internal slot, through
// %TypedArray%.prototype's own getters, never through properties of the object itself: a Proxy, an
// object with its own `length`, `buffer` or `constructor`, or a look-alike is told apart from a real one,
// and the engine reads a fresh view built from the slots, never the caller's object.
import { InputError } from "./errors.ts";
import type { QuantLayer, QuantModel } from "./model.ts";

const TypedArrayPrototype = Object.getPrototypeOf(Int8Array.prototype) as object;
const getter = (key: PropertyKey) => Object.getOwnPropertyDescriptor(TypedArrayPrototype, key)!.get! as (this: unknown) => unknown;
const TAG = getter(Symbol.toStringTag), LENGTH = getter("length"), BUFFER = getter("buffer"), BYTE_OFFSET = getter("byteOffset");

/** "Float32Array", "Int8Array", … for a real typed array (any realm), else undefined; never runs the caller's code. */
export function typedArrayKind(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  return TAG.call(v) as string | undefined;
}

const article = (w: string) => (/^[AEIO]/.test(w) ? "an" : "a");

/** What a value is, for an error message, without running any of its code (getters, Proxy traps). */
export function describeArg(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing (undefined)";
  if (typeof v !== "object") return typeof v;
  const kind = typedArrayKind(v);
  if (kind) return `${article(kind)} ${kind} of length ${LENGTH.call(v) as number}`;
  if (ArrayBuffer.isView(v)) return "a DataView";
  try {
    if (Array.isArray(v)) return "an Array";
  } catch {
    return "a revoked Proxy";
  }
  return "an object (not a typed array)";
}

/** Kinds a typed-array argument may have, with their constructors. */
const CTORS = { Float32Array, Int8Array, Uint8Array, Int32Array } as const;
type Kind = keyof typeof CTORS;

/**
 * A fresh view of `v`'s own bytes when it is a real typed array of one of `kinds`; else an InputError
 * "`name` must be …, got …". The view's length is the slot's, whatever `v.length` says.
 */
export function typedArrayArg<K extends Kind>(v: unknown, kinds: readonly K[], name: string): InstanceType<(typeof CTORS)[K]> {
  const kind = typedArrayKind(v) as K | undefined;
  if (kind === undefined || !kinds.includes(kind)) {
    const an = (k: string) => `${article(k)} ${k}`;
    const want = kinds.length === 1 ? an(kinds[0]) : kinds.slice(0, -1).map(an).join(", ") + ` or ${an(kinds[kinds.length - 1])}`;
    throw new InputError(`${name} must be ${want}, got ${describeArg(v)}`);
  }
  const length = LENGTH.call(v) as number;
  // A detached or out-of-bounds buffer reads as length 0: no view over it
  if (length === 0) return new CTORS[kind](0) as InstanceType<(typeof CTORS)[K]>;
  return new CTORS[kind](BUFFER.call(v) as ArrayBuffer, BYTE_OFFSET.call(v) as number, length) as InstanceType<(typeof CTORS)[K]>;
}

/** An options argument: undefined (→ {}) or a plain object whose named fields are booleans or undefined; read once. */
export function optionsArg<K extends string>(v: unknown, keys: readonly K[], name: string): Partial<Record<K, boolean>> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || typedArrayKind(v) !== undefined) {
    throw new InputError(`${name} must be an object (or left out), got ${describeArg(v)}`);
  }
  const out: Partial<Record<K, boolean>> = {};
  for (const k of keys) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined && typeof x !== "boolean") throw new InputError(`${name}.${k} must be true, false or left out, got ${describeArg(x)}`);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

/** A field of an in-memory model: read once, type-checked, named in errors as `model.layers[l].field`. */
function field(obj: unknown, key: string, path: string): unknown {
  if (typeof obj !== "object" || obj === null) throw new InputError(`${path} must be an object, got ${describeArg(obj)}`);
  return (obj as Record<string, unknown>)[key];
}

function intField(obj: unknown, key: string, path: string, lo: number, hi: number): number {
  const v = field(obj, key, path);
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new InputError(`${path}.${key} must be an integer in [${lo}, ${hi}], got ${typeof v === "number" ? String(v) : describeArg(v)}`);
  }
  return v;
}

function numberField(obj: unknown, key: string, path: string): number {
  const v = field(obj, key, path);
  if (typeof v !== "number") throw new InputError(`${path}.${key} must be a number, got ${describeArg(v)}`);
  return v;
}

function arrayField<K extends Kind>(obj: unknown, key: string, path: string, kind: K, length: number): InstanceType<(typeof CTORS)[K]> {
  const a = typedArrayArg(field(obj, key, path), [kind], `${path}.${key}`);
  if (a.length !== length) throw new InputError(`${path}.${key} has ${a.length} elements, expected ${length}`);
  return a;
}

/** Largest in-memory model Engine.fromModel serialises (the reader's file limit). */
const MODEL_MAX_BYTES = 512 * 1024 * 1024;
const MODEL_MAX_LAYERS = 256, MODEL_MAX_DIM = 65535, U32_MAX = 0xffffffff, I32_MIN = -0x80000000, I32_MAX = 0x7fffffff;

/**
 * A plain copy of an in-memory QuantModel whose every field has the type and length the writer needs,
 * so nothing is lost or wrapped on the way to the reader (which then checks every value as in a file);
 * else an InputError naming the field. Reads each field once: getters and Proxies cannot change it later.
 */
export function quantModelArg(model: unknown, name = "model"): QuantModel {
  const layersIn = field(model, "layers", name);
  let count: number;
  try {
    if (!Array.isArray(layersIn)) throw new InputError(`${name}.layers must be an Array, got ${describeArg(layersIn)}`);
    count = layersIn.length;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${name}.layers must be an Array, got ${describeArg(layersIn)}`);
  }
  if (count < 1 || count > MODEL_MAX_LAYERS) throw new InputError(`${name}.layers has ${count} layers, expected 1 to ${MODEL_MAX_LAYERS}`);
  let bytes = 0;
  const layers: QuantLayer[] = [];
  for (let l = 0; l < count; l++) {
    const p = `${name}.layers[${l}]`;
    const L = (layersIn as unknown[])[l];
    const nIn = intField(L, "nIn", p, 1, MODEL_MAX_DIM), nOut = intField(L, "nOut", p, 1, MODEL_MAX_DIM);
    const activation = field(L, "activation", p);
    if (activation !== "relu" && activation !== "none") throw new InputError(`${p}.activation must be "relu" or "none", got ${describeArg(activation)}`);
    const inScale = numberField(L, "inScale", p), outScale = numberField(L, "outScale", p);
    const inZeroPoint = intField(L, "inZeroPoint", p, I32_MIN, I32_MAX), outZeroPoint = intField(L, "outZeroPoint", p, I32_MIN, I32_MAX);
    const e = field(L, "estimator", p), g = field(L, "gate", p);
    if (e !== null && e !== undefined && g !== null && g !== undefined) throw new InputError(`${p}: an estimator and a block gate; a layer has at most one`);
    let estimator = null, gate = null;
    if (e !== null && e !== undefined) {
      const q = `${p}.estimator`;
      const rank = intField(e, "rank", q, 1, Math.min(nIn, nOut));
      estimator = {
        rank, tMax: intField(e, "tMax", q, 0, U32_MAX), margin: numberField(e, "margin", q),
        a: arrayField(e, "a", q, "Int8Array", rank * nIn), tMultiplier: arrayField(e, "tMultiplier", q, "Int32Array", rank),
        tShift: arrayField(e, "tShift", q, "Int32Array", rank), b: arrayField(e, "b", q, "Int8Array", nOut * rank),
        threshold: arrayField(e, "threshold", q, "Int32Array", nOut),
      };
      bytes += rank * nIn + 8 * rank + nOut * rank + 4 * nOut + 5 * 16;
    }
    if (g !== null && g !== undefined) {
      const q = `${p}.gate`;
      const blockSize = intField(g, "blockSize", q, 1, nOut);
      const blocks = intField(g, "blocks", q, 1, nOut);
      if (blocks !== Math.ceil(nOut / blockSize)) throw new InputError(`${q}.blocks must be ${Math.ceil(nOut / blockSize)} (ceil(nOut / blockSize)), got ${blocks}`);
      // topK absent (models built before routing gates): 0, the threshold gate
      const topK = field(g, "topK", q) === undefined ? 0 : intField(g, "topK", q, 0, blocks);
      gate = { blockSize, blocks, weights: arrayField(g, "weights", q, "Int8Array", blocks * nIn), threshold: arrayField(g, "threshold", q, "Int32Array", blocks), topK };
      bytes += blocks * nIn + 4 * blocks + 2 * 16;
    }
    bytes += nOut * nIn + 12 * nOut + 4 * 16;
    if (bytes > MODEL_MAX_BYTES) throw new InputError(`${name}: more than ${MODEL_MAX_BYTES} bytes of sections by layer ${l}, the largest model file`);
    layers.push({
      nIn, nOut, activation, inScale, inZeroPoint, outScale, outZeroPoint,
      weights: arrayField(L, "weights", p, "Int8Array", nOut * nIn), bias: arrayField(L, "bias", p, "Int32Array", nOut),
      multiplier: arrayField(L, "multiplier", p, "Int32Array", nOut), shift: arrayField(L, "shift", p, "Int32Array", nOut),
      estimator, gate,
    });
  }
  const f = field(model, "inputFeatures", name);
  if (f === null || f === undefined) return { layers };
  const n0 = layers[0].nIn, q = `${name}.inputFeatures`;
  return { layers, inputFeatures: { scale: arrayField(f, "scale", q, "Float32Array", n0), offset: arrayField(f, "offset", q, "Float32Array", n0) } };
}
