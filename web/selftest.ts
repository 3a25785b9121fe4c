// The browser's part of the runtime check (web/selftest.html): the selftest cases through Engine on
// both builds (rankgate.wasm as "auto" picks it here, and rankgate-mvp.wasm), and the own checksums
// of selftest.wasm and selftest-mvp.wasm, all computed in this page.
import { casesFromJson, engineChecksum, moduleChecksum } from "./selftest-core.ts";
import { compileBuild, type WasmBuild } from "../runtime/src/wasm.ts";

interface Checksum {
  checksum: number;
  runs: number;
}

export interface BrowserSelftest {
  /** Engine on the build "auto" picks in this browser. */
  engine: Checksum;
  /** Which build that is. */
  autoModule: WasmBuild;
  /** Engine on rankgate-mvp.wasm. */
  engineMvp: Checksum;
  module: Checksum;
  moduleMvp: Checksum;
  userAgent: string;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function run(): Promise<BrowserSelftest> {
  const compile = async (url: string) => WebAssembly.compile(await fetchBytes(url) as Uint8Array<ArrayBuffer>);
  const [auto, mvp, selftestWasm, selftestMvp, casesText] = await Promise.all([
    compileBuild("auto", fetchBytes),
    compileBuild("mvp", fetchBytes),
    compile("selftest.wasm"),
    compile("selftest-mvp.wasm"),
    fetchBytes("selftest-cases.json").then((b) => new TextDecoder().decode(b)),
  ]);
  const cases = casesFromJson(casesText);
  return {
    engine: await engineChecksum(cases, { wasm: auto.module }),
    autoModule: auto.build,
    engineMvp: await engineChecksum(cases, { wasm: mvp.module, module: "mvp" }),
    module: await moduleChecksum(selftestWasm),
    moduleMvp: await moduleChecksum(selftestMvp),
    userAgent: navigator.userAgent,
  };
}

const out = document.getElementById("result")!;
const result = run();
(window as unknown as { rankgateSelftest: Promise<BrowserSelftest> }).rankgateSelftest = result;
result.then(
  (r) => {
    out.textContent = JSON.stringify(r, null, 2);
    const all = [r.engine, r.engineMvp, r.module, r.moduleMvp];
    out.dataset.state = all.every((c) => c.checksum === r.engine.checksum && c.runs === r.engine.runs) ? "pass" : "fail";
    out.dataset.module = r.autoModule;
  },
  (e: unknown) => {
    out.textContent = String(e);
    out.dataset.state = "error";
  },
);
