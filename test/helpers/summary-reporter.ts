// Prints one plain closing line, "tests: N passed, N failed[, N skipped]", after vitest's own report,
// and, when suites that need a system tool were skipped (describeWithTools), one line naming them
// and what to install.
import type { Reporter, TestModule } from "vitest/node";
import { TOOLS, type ToolName } from "./system.ts";

/** "title [needs a, b]" → ["a", "b"] for suites made by describeWithTools. */
export function neededTools(suiteName: string): ToolName[] {
  const m = /\[needs ([^\]]+)\]$/.exec(suiteName);
  return m ? (m[1]!.split(", ").filter((t) => t in TOOLS) as ToolName[]) : [];
}

/** The line for skipped system suites, or "" when none was skipped. */
export function skippedSystemLine(skipped: ReadonlyArray<{ title: string; tools: ToolName[] }>): string {
  if (!skipped.length) return "";
  const installs = [...new Set(skipped.flatMap((s) => s.tools.map((t) => TOOLS[t].install.replace(/^apt-get install -y /, ""))))];
  return `skipped system suites: ${skipped.map((s) => s.title).join("; ")} (install: apt-get install -y ${installs.join(" ")}; RANKGATE_REQUIRE_SYSTEM=1 makes this a failure)\n`;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0, failed = 0, skipped = 0;
    const system: { title: string; tools: ToolName[] }[] = [];
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      if (m.state() === "failed" && [...m.children.allTests()].length === 0) failed++;
      for (const s of m.children.allSuites()) {
        const tools = neededTools(s.name);
        if (tools.length && s.state() === "skipped") system.push({ title: `${m.moduleId.replace(/^.*\/test\//, "test/")} "${s.name}"`, tools });
      }
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n${skippedSystemLine(system)}`);
  }
}
