// The browser's part of the three-runtime check (web/selftest.html): the selftest cases through
// Engine on rankgate.wasm, and selftest.wasm's own checksum, both computed in this page.
import { casesFromJson, engineChecksum, moduleChecksum } from "../tools/selftest-core.ts";

export interface BrowserSelftest {
  engine: { checksum: number; runs: number };
  module: { checksum: number; runs: number };
  userAgent: string;
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

async function run(): Promise<BrowserSelftest> {
  const [engineWasm, selftestWasm, casesText] = await Promise.all([
    fetchBytes("rankgate.wasm").then((b) => WebAssembly.compile(b)),
    fetchBytes("selftest.wasm").then((b) => WebAssembly.compile(b)),
    fetch("selftest-cases.json").then((r) => {
      if (!r.ok) throw new Error(`selftest-cases.json: HTTP ${r.status}`);
      return r.text();
    }),
  ]);
  const cases = casesFromJson(casesText);
  return { engine: await engineChecksum(cases, { wasm: engineWasm }), module: await moduleChecksum(selftestWasm), userAgent: navigator.userAgent };
}

const out = document.getElementById("result")!;
const result = run();
(window as unknown as { rankgateSelftest: Promise<BrowserSelftest> }).rankgateSelftest = result;
result.then(
  (r) => {
    out.textContent = JSON.stringify(r, null, 2);
    out.dataset.state = r.engine.checksum === r.module.checksum ? "pass" : "fail";
  },
  (e: unknown) => {
    out.textContent = String(e);
    out.dataset.state = "error";
  },
);
