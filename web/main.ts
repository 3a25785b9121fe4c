// Browser demo: draw a digit, see the engine's prediction, each gated layer's mask and the
// MAC counters update live; load another .rgm. The engine is the same runtime/src/runtime.ts over the
// same rankgate.wasm as in Node (rankgate-mvp.wasm where the browser lacks Wasm SIMD, or with
// ?module=mvp; the page shows which). Test hooks: window.rankgateDemo (see DemoApi).
import { FormatError } from "../runtime/src/errors.ts";
import { readModel } from "../runtime/src/format.ts";
import { activationRange } from "../runtime/src/model.ts";
import { denseRows_s8 } from "../runtime/src/reference.ts";
import { Engine, type InferResult } from "../runtime/src/runtime.ts";
import { compileBuild, type WasmChoice } from "../runtime/src/wasm.ts";

const SIDE = 28;
const PIXELS = SIDE * SIDE;

export interface DemoSummary {
  label: number;
  logits: number[];
  estimatorMacs: number;
  rowMacs: number;
  totalMacs: number;
  denseMacs: number;
  layers: { estimatorMacs: number; rowMacs: number; rowsComputed: number; rowsSkipped: number }[];
}

export interface DemoApi {
  /** Resolves once the default model has loaded (or failed to: see #status). */
  ready: Promise<void>;
  /** Shows 784 MNIST pixels (0..255, row-major) on the pad and runs them exactly as given (all zero: no result, null). */
  setPixels(pixels: ArrayLike<number>): DemoSummary | null;
  /** Loads an .rgm from bytes, as the file picker does. Throws the loader's error. */
  loadModel(bytes: Uint8Array, name: string): Promise<void>;
  summary(): DemoSummary | null;
  /** The 784 network inputs of the last run, in [0, 1]. */
  input(): number[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const pad = $<HTMLCanvasElement>("pad");
const padCtx = pad.getContext("2d", { willReadFrequently: true })!;
const preview = $<HTMLCanvasElement>("preview");
const previewCtx = preview.getContext("2d")!;
const statusLine = $("status");
const gatingBox = $<HTMLInputElement>("gating");
const fmt = (n: number) => n.toLocaleString("en-US");

let wasm: Promise<WebAssembly.Module> | null = null; // the build ?module= picks (auto by default)
let engine: Engine | null = null;
let modelName = "";
let input: Float32Array = new Float32Array(PIXELS);
let last: DemoSummary | null = null;

function status(text: string, error = false): void {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}

function clearPad(): void {
  padCtx.fillStyle = "#000";
  padCtx.fillRect(0, 0, pad.width, pad.height);
}

// Drawing
let drawing = false;
let prev: [number, number] | null = null;
const at = (e: PointerEvent): [number, number] => {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
};
function stroke(to: [number, number]): void {
  padCtx.strokeStyle = "#fff";
  padCtx.lineWidth = 22;
  padCtx.lineCap = "round";
  padCtx.lineJoin = "round";
  padCtx.beginPath();
  padCtx.moveTo(...(prev ?? to));
  padCtx.lineTo(...to);
  padCtx.stroke();
  prev = to;
  schedule();
}
pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  prev = null;
  pad.setPointerCapture(e.pointerId);
  stroke(at(e));
});
pad.addEventListener("pointermove", (e) => { if (drawing) stroke(at(e)); });
const stop = () => { drawing = false; prev = null; };
pad.addEventListener("pointerup", stop);
pad.addEventListener("pointercancel", stop);

let pending = false;
function schedule(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    input = padToInput();
    run();
  });
}

/** MNIST preprocessing: fit the ink's bounding box into 20×20, then centre its mass in 28×28. */
function padToInput(): Float32Array {
  const { data, width, height } = padCtx.getImageData(0, 0, pad.width, pad.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    }
  }
  const out = new Float32Array(PIXELS);
  if (x1 < 0) return out;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, k = 20 / Math.max(bw, bh);
  const w = Math.max(1, Math.round(bw * k)), h = Math.max(1, Math.round(bh * k));
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  const sctx = small.getContext("2d", { willReadFrequently: true })!;
  sctx.imageSmoothingQuality = "high";
  sctx.drawImage(pad, x0, y0, bw, bh, 0, 0, w, h);
  const s = sctx.getImageData(0, 0, w, h).data;
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const v = s[(y * w + x) * 4]; mass += v; mx += v * x; my += v * y; }
  const ox = Math.round(SIDE / 2 - (mass ? mx / mass : w / 2) - 0.5), oy = Math.round(SIDE / 2 - (mass ? my / mass : h / 2) - 0.5);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const tx = x + ox, ty = y + oy;
      if (tx >= 0 && tx < SIDE && ty >= 0 && ty < SIDE) out[ty * SIDE + tx] = s[(y * w + x) * 4] / 255;
    }
  }
  return out;
}

function drawPreview(x: Float32Array): void {
  const img = previewCtx.createImageData(SIDE, SIDE);
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(x[i] * 255);
    img.data.set([v, v, v, 255], i * 4);
  }
  previewCtx.putImageData(img, 0, 0);
}

/** No result shown: the prediction, logits, counters and masks of an earlier input are cleared. */
function clearResult(): void {
  last = null;
  const pred = $("prediction");
  pred.textContent = "–";
  pred.dataset.label = "";
  $("logits").innerHTML = "";
  $("counters").querySelector("tbody")!.innerHTML = "";
  $("counters").querySelectorAll("tfoot [data-counter]").forEach((td) => (td.textContent = "0"));
  const total = $("macs-total");
  total.textContent = "0";
  total.dataset.value = "0";
  $("macs-ratio").textContent = "–";
  $("masks").innerHTML = "";
}

function run(): void {
  drawPreview(input);
  if (!engine) return;
  if (engine.inputSize !== PIXELS) {
    clearResult();
    status(`${modelName} takes ${engine.inputSize} inputs; the pad gives 28×28 = ${PIXELS}`, true);
    return;
  }
  // An empty pad is not a digit: no prediction
  if (!input.some((v) => v > 0)) {
    clearResult();
    return;
  }
  const r = engine.infer(input, { gating: gatingBox.checked });
  last = summarize(r);
  render(r);
}

function summarize(r: InferResult): DemoSummary {
  const layers = engine!.model.layers;
  return {
    label: r.label, logits: Array.from(r.logits),
    estimatorMacs: r.stats.estimatorMacs, rowMacs: r.stats.rowMacs, totalMacs: r.stats.totalMacs,
    denseMacs: layers.reduce((t, l) => t + l.nIn * l.nOut, 0),
    layers: r.stats.layers.map(({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped }) => ({ estimatorMacs, rowMacs, rowsComputed, rowsSkipped })),
  };
}

function render(r: InferResult): void {
  const e = engine!, s = last!;
  // Prediction and logits (real values: (q − zp) · scale)
  const pred = $("prediction");
  pred.textContent = String(r.label);
  pred.dataset.label = String(r.label);
  const real = Array.from(r.logits, (q) => (q - e.outputZeroPoint) * e.outputScale);
  const lo = Math.min(...real), hi = Math.max(...real);
  $("logits").innerHTML = real.map((v, i) =>
    `<div class="logit${i === r.label ? " top" : ""}" data-logit="${r.logits[i]}"><span>${i}</span><div class="bar"><span style="width:${hi > lo ? ((v - lo) / (hi - lo)) * 100 : 0}%"></span></div><span>${v.toFixed(2)}</span></div>`).join("");
  // Counters
  const body = $("counters").querySelector("tbody")!;
  body.innerHTML = e.model.layers.map((l, i) => {
    const st = r.stats.layers[i];
    const cell = (f: string, v: number) => `<td data-counter="layers.${i}.${f}">${fmt(v)}</td>`;
    return `<tr><td>${i}</td><td>${l.nIn} → ${l.nOut}</td><td>${l.estimator?.rank ?? "–"}</td>${cell("rowsComputed", st.rowsComputed)}${cell("rowsSkipped", st.rowsSkipped)}${cell("estimatorMacs", st.estimatorMacs)}${cell("rowMacs", st.rowMacs)}<td>${fmt(l.nIn * l.nOut)}</td></tr>`;
  }).join("");
  const foot = $("counters").querySelector("tfoot")!;
  for (const f of ["estimatorMacs", "rowMacs", "denseMacs"] as const) foot.querySelector(`[data-counter="${f}"]`)!.textContent = fmt(s[f]);
  const total = $("macs-total");
  total.textContent = fmt(s.totalMacs);
  total.dataset.value = String(s.totalMacs);
  $("macs-ratio").textContent = `${(s.totalMacs / s.denseMacs).toFixed(3)}×`;
  renderMasks();
}

const COLORS = { on: [0x4f, 0xd1, 0xa5], zero: [0x2f, 0x6f, 0x5b], missed: [0x8a, 0x35, 0x3b], off: [0x26, 0x2b, 0x33] } as const;

/** One strip per hidden layer: computed/skipped from the mask, positive from the exact rows on the same input. */
function renderMasks(): void {
  const e = engine!;
  const trace = e.lastTrace();
  const box = $("masks");
  const layers = e.model.layers;
  if (box.childElementCount !== layers.length - 1) {
    box.innerHTML = layers.slice(0, -1).map((l, i) => `<div class="mask"><div class="label"></div><canvas data-layer="${i}"></canvas></div>`).join("");
  }
  layers.slice(0, -1).forEach((layer, l) => {
    const wrap = box.children[l] as HTMLElement;
    const canvas = wrap.querySelector("canvas")!;
    const perRow = Math.min(layer.nOut, 200), rows = Math.ceil(layer.nOut / perRow), cell = Math.max(4, Math.min(12, Math.floor(800 / perRow)));
    canvas.width = perRow;
    canvas.height = rows;
    canvas.style.width = `${perRow * cell}px`;
    const mask = trace.masks[l];
    const exact = new Int8Array(layer.nOut);
    denseRows_s8({ ...layer, inZp: layer.inZeroPoint, outZp: layer.outZeroPoint, ...activationRange(layer) }, trace.inputs[l], exact);
    const img = new ImageData(perRow, rows);
    let computed = 0, positive = 0, missed = 0;
    for (let j = 0; j < layer.nOut; j++) {
      const on = mask ? ((mask[j >>> 5] >>> (j & 31)) & 1) === 1 : true;
      const pos = exact[j] > layer.outZeroPoint;
      computed += +on;
      positive += +pos;
      missed += +(pos && !on);
      const c = on ? (pos ? COLORS.on : COLORS.zero) : pos ? COLORS.missed : COLORS.off;
      img.data.set([...c, 255], j * 4);
    }
    for (let j = layer.nOut; j < perRow * rows; j++) img.data.set([0x1b, 0x20, 0x27, 255], j * 4);
    canvas.getContext("2d")!.putImageData(img, 0, 0);
    canvas.dataset.computed = String(computed);
    wrap.querySelector(".label")!.textContent =
      `layer ${l}: ${layer.nOut} units, ${mask ? `rank ${layer.estimator!.rank}` : "dense"}; computed ${computed}, positive ${positive}, positive but skipped ${missed}`;
  });
}

async function loadModel(bytes: Uint8Array, name: string): Promise<void> {
  // ?module=simd|mvp|auto (default auto: rankgate.wasm where this browser validates it, else rankgate-mvp.wasm)
  wasm ??= compileBuild((new URLSearchParams(location.search).get("module") ?? "auto") as WasmChoice, async (file) => {
    const r = await fetch(file);
    if (!r.ok) throw new Error(`${file}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }).then(({ module, build }) => {
    const el = $("wasm-module");
    el.textContent = `${build === "simd" ? "rankgate.wasm (SIMD)" : "rankgate-mvp.wasm (WebAssembly 1.0, no SIMD)"}`;
    el.dataset.module = build;
    return module;
  });
  readModel(bytes, name); // a FormatError names the file
  const next = await Engine.load(bytes, { wasm: await wasm, trace: true });
  engine = next;
  modelName = name;
  const l = next.model.layers;
  $("model-info").textContent = `${name}: ${[l[0].nIn, ...l.map((x) => x.nOut)].join("-")}, ranks ${l.slice(0, -1).map((x) => x.estimator?.rank ?? 0).join("-")}, ${fmt(bytes.length)} bytes`;
  $("masks").innerHTML = "";
  status(`loaded ${name}`);
  run();
}

async function loadDefault(): Promise<void> {
  const url = new URLSearchParams(location.search).get("model") ?? "paper.rgm";
  const r = await fetch(url).catch(() => null);
  if (!r || !r.ok) {
    $("model-info").textContent = "no model loaded";
    status(`no default model (${url}: ${r ? `HTTP ${r.status}` : "unreachable"}): load an .rgm file`, true);
    return;
  }
  await loadModel(new Uint8Array(await r.arrayBuffer()), url.split("/").pop()!);
}

$("clear").addEventListener("click", () => {
  clearPad();
  input = new Float32Array(PIXELS);
  run();
});
gatingBox.addEventListener("change", run);
$<HTMLInputElement>("file").addEventListener("change", async (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (!file) return;
  try {
    await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (e) {
    status(e instanceof FormatError ? e.message : `${file.name}: ${e instanceof Error ? e.message : String(e)}`, true);
  }
});

clearPad();
const ready = loadDefault().catch((e: unknown) => status(e instanceof Error ? e.message : String(e), true));
const api: DemoApi = {
  ready,
  setPixels(pixels) {
    if (pixels.length !== PIXELS) throw new Error(`setPixels: expected ${PIXELS} pixels, got ${pixels.length}`);
    input = Float32Array.from(pixels, (v) => v / 255);
    const img = padCtx.createImageData(SIDE, SIDE);
    for (let i = 0; i < PIXELS; i++) img.data.set([pixels[i], pixels[i], pixels[i], 255], i * 4);
    const tmp = document.createElement("canvas");
    tmp.width = tmp.height = SIDE;
    tmp.getContext("2d")!.putImageData(img, 0, 0);
    padCtx.imageSmoothingEnabled = false;
    padCtx.drawImage(tmp, 0, 0, pad.width, pad.height);
    if (!engine) throw new Error("setPixels: no model loaded");
    run();
    return last;
  },
  loadModel,
  summary: () => last,
  input: () => Array.from(input),
};
(window as unknown as { rankgateDemo: DemoApi }).rankgateDemo = api;
