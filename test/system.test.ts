// test/helpers/system.ts and the summary line: which suites need which tools, what the line says.
import { describe, expect, it } from "vitest";
import { neededTools, skippedSystemLine } from "./helpers/summary-reporter.ts";
import { runCommand } from "./helpers/system.ts";

describe("system suites", () => {
  it("the reporter reads the tools from describeWithTools' title", () => {
    expect(neededTools("browser demo [needs chromium]")).toEqual(["chromium"]);
    expect(neededTools("x [needs gcc, cmake]")).toEqual(["gcc", "cmake"]);
    expect(neededTools("plain suite")).toEqual([]);
  });

  it("one line names every skipped suite and the packages to install, once each", () => {
    expect(skippedSystemLine([])).toBe("");
    const line = skippedSystemLine([
      { title: 'test/browser.test.ts "browser demo [needs chromium]"', tools: ["chromium"] },
      { title: 'test/runtimes.test.ts "the standalone interpreter [needs wasm-interp]"', tools: ["wasm-interp"] },
      { title: 'test/sim-report.test.ts "rankgate sim --report [needs chromium]"', tools: ["chromium"] },
    ]);
    expect(line.split("\n")).toHaveLength(2);
    expect(line).toContain("browser demo [needs chromium]");
    expect(line).toContain("install: apt-get install -y chromium wabt;");
  });

  it("a tool that does not start, or fails, is one clear line (not `expected null to be +0`)", () => {
    const missing = { command: "/nonexistent/wasm-interp", install: "apt-get install -y wabt" };
    expect(() => runCommand("wasm-interp", missing, ["m.wasm"])).toThrow(/^wasm-interp m\.wasm: \/nonexistent\/wasm-interp did not start \(.*ENOENT.*\); apt-get install -y wabt$/);
    const node = { command: process.execPath, install: "" };
    expect(() => runCommand("node", node, ["-e", "console.error('bad module'); process.exit(3)"])).toThrow(/^node -e .*: exited 3: bad module$/);
    expect(runCommand("node", node, ["-e", "console.log('ok')"]).stdout).toBe("ok\n");
  });
});
