// The C SDK as one library folder, valid for CMake (add_subdirectory, FetchContent), Arduino (library.properties,
// sources and header in src/), PlatformIO (library.json) and Zephyr (zephyr/module.yml, CMakeLists.txt, Kconfig):
//   npm run pack:c                     → build/rankgate-c-<version>.tar.gz (root folder rankgate-c-<version>/)
//   npx tsx scripts/pack-c.ts --folder D → the same folder written at D (runtime/package.json prepack: runtime/c)
// The version is runtime/package.json's; kernels/c/CMakeLists.txt, kernels/c/library.properties and kernels/c/library.json must say the same.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const C = join(ROOT, "kernels", "c");

/** The version every manifest must carry: runtime/package.json's; an Error naming the file that differs. */
export function sdkVersion(): string {
  const version = JSON.parse(readFileSync(join(ROOT, "runtime", "package.json"), "utf8")).version as string;
  const found: [string, string | undefined][] = [
    ["kernels/c/CMakeLists.txt project(... VERSION)", /project\(rankgate VERSION ([^ )]+)/.exec(readFileSync(join(C, "CMakeLists.txt"), "utf8"))?.[1]],
    ["kernels/c/library.properties version", /^version=(.*)$/m.exec(readFileSync(join(C, "library.properties"), "utf8"))?.[1]],
    ["kernels/c/library.json version", JSON.parse(readFileSync(join(C, "library.json"), "utf8")).version],
  ];
  for (const [where, v] of found) if (v !== version) throw new Error(`${where} is ${v ?? "missing"}, expected ${version} (runtime/package.json)`);
  return version;
}

/** Files of the library folder: destination (relative) → source (absolute). */
export function sdkFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of ["CMakeLists.txt", "library.properties", "library.json", "README.md"]) files.set(f, join(C, f));
  for (const f of ["module.yml", "CMakeLists.txt", "Kconfig"]) files.set(`zephyr/${f}`, join(C, "zephyr", f));
  for (const f of readdirSync(join(C, "src")).filter((n) => /\.[ch]$/.test(n)).sort()) files.set(`src/${f}`, join(C, "src", f));
  files.set("src/rankgate.h", join(C, "include", "rankgate.h"));
  files.set("extras/example/main.c", join(C, "examples", "main.c"));
  files.set("LICENSE", join(ROOT, "LICENSE"));
  return files;
}

/** Writes the library folder at `dir` (replacing it). */
export function writeSdkFolder(dir: string): void {
  sdkVersion();
  rmSync(dir, { recursive: true, force: true });
  for (const [to, from] of sdkFiles()) {
    mkdirSync(join(dir, to, ".."), { recursive: true });
    copyFileSync(from, join(dir, to));
  }
}

/** Writes build/rankgate-c-<version>.tar.gz (reproducible: sorted, mtime 0, owner 0) into `outDir`; returns its path. */
export function packSdk(outDir = join(ROOT, "build")): string {
  const name = `rankgate-c-${sdkVersion()}`;
  const stage = join(outDir, "pack-c");
  writeSdkFolder(join(stage, name));
  const tgz = join(outDir, `${name}.tar.gz`);
  const r = spawnSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-czf", tgz, "-C", stage, name], { encoding: "utf8", env: { ...process.env, GZIP: "-n" } });
  if (r.error || r.status !== 0) throw new Error(`tar: ${r.error?.message ?? r.stderr}`);
  rmSync(stage, { recursive: true, force: true });
  return tgz;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const i = process.argv.indexOf("--folder");
  try {
    if (i > 0) {
      // Silent: npm pack --json prints the package list on the same stdout
      writeSdkFolder(resolve(process.argv[i + 1] ?? ""));
    } else console.log(packSdk());
  } catch (e) {
    process.stderr.write(`pack-c: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
