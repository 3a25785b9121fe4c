// npm run build:runtimes: real Wasm runtimes from the unmodified upstream tarballs in
// ../shared/third-party (RANKGATE_THIRD_PARTY overrides), built once under build/third-party/
// and cached by tarball name:
//   wasm3                  libm3.a from source/*.c, the CLI (platforms/app/main.c), gcc -O2
//   WAMR classic / fast    iwasm and libiwasm.a, interpreter only, SIMD off
//   WAMR fast + SIMDe      iwasm and libiwasm.a, fast interpreter with Wasm SIMD through SIMDe (offline)
// and our embedding hosts (test/wasm-hosts/*.c) linked against each. Each product is built in a
// temporary folder and renamed into place, so an interrupted build is redone, never half-used.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, rmdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../runtime/src/errors.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RUNTIMES_DIR = join(ROOT, "build", "third-party");
const HOSTS = join(ROOT, "test", "wasm-hosts");

/**
 * The tarball folder: $RANKGATE_THIRD_PARTY, else the first `shared/third-party` beside the repository
 * root or one of its ancestors (CI: ../shared/third-party).
 */
export function thirdPartyDir(): string {
  const env = process.env.RANKGATE_THIRD_PARTY;
  if (env) {
    if (!existsSync(env)) throw new UserError(`RANKGATE_THIRD_PARTY=${env}: no such folder`);
    return resolve(env);
  }
  for (let dir = resolve(ROOT, ".."); ; dir = dirname(dir)) {
    const candidate = join(dir, "shared", "third-party");
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new UserError(`no shared/third-party folder beside ${ROOT} or its parents: set RANKGATE_THIRD_PARTY`);
}

/** The one tarball named `<prefix>-*.tar.gz`. */
export function tarball(prefix: string, dir = thirdPartyDir()): { path: string; key: string } {
  const found = readdirSync(dir).filter((f) => f.startsWith(`${prefix}-`) && f.endsWith(".tar.gz"));
  if (found.length !== 1) throw new UserError(`${dir}: expected one ${prefix}-*.tar.gz, found ${found.length}`);
  return { path: join(dir, found[0]), key: found[0].slice(0, -".tar.gz".length) };
}

export type RuntimeName = "wasm3" | "wamr-classic" | "wamr-fast" | "wamr-fast-simd";

export interface Runtime {
  name: RuntimeName;
  /** The upstream CLI: `wasm3 --func f file.wasm` or `iwasm -f f file.wasm`. */
  cli: string;
  /** Our embedding host (test/wasm-hosts), linked against this runtime. */
  host: string;
  /** Whether it runs Wasm SIMD. */
  simd: boolean;
  /** Tarballs it is built from (the cache key). */
  from: string[];
  /** How it was built, one line. */
  how: string;
}

/** Where each runtime's products live (they exist after buildRuntimes()). */
export function runtimes(): Runtime[] {
  const wasm3 = tarball("wasm3"), wamr = tarball("wamr"), simde = tarball("simde");
  const w3 = join(RUNTIMES_DIR, wasm3.key);
  const wamrDir = (v: string) => join(RUNTIMES_DIR, wamr.key, v);
  return [
    { name: "wasm3", cli: join(w3, "out", "wasm3"), host: join(w3, "out", "wasm3-host"), simd: false, from: [wasm3.key], how: "gcc -O2 source/*.c platforms/app/main.c -lm" },
    { name: "wamr-classic", cli: join(wamrDir("classic"), "out", "iwasm"), host: join(wamrDir("classic"), "out", "wamr-host"), simd: false, from: [wamr.key],
      how: "cmake product-mini/platforms/linux -DWAMR_BUILD_INTERP=1 -DWAMR_BUILD_FAST_INTERP=0 -DWAMR_BUILD_SIMD=0" },
    { name: "wamr-fast", cli: join(wamrDir("fast"), "out", "iwasm"), host: join(wamrDir("fast"), "out", "wamr-host"), simd: false, from: [wamr.key],
      how: "cmake product-mini/platforms/linux -DWAMR_BUILD_INTERP=1 -DWAMR_BUILD_FAST_INTERP=1 -DWAMR_BUILD_SIMD=0" },
    { name: "wamr-fast-simd", cli: join(wamrDir(`fast-simd-${simde.key}`), "out", "iwasm"), host: join(wamrDir(`fast-simd-${simde.key}`), "out", "wamr-host"), simd: true,
      from: [wamr.key, simde.key], how: "cmake product-mini/platforms/linux -DWAMR_BUILD_INTERP=1 -DWAMR_BUILD_FAST_INTERP=1 -DWAMR_BUILD_SIMD=1 (SIMDe, offline)" },
  ];
}

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): void {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${String(r.stdout).slice(-4000)}${String(r.stderr).slice(-4000)}`);
}

/** Extracts a tarball into `dir` (its top folder inside), once. */
function extract(path: string, dir: string): void {
  if (existsSync(join(dir, ".extracted"))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run("tar", ["xzf", path, "-C", dir]);
  run("touch", [join(dir, ".extracted")]);
}

/** Builds `out` (a folder) through `make(tmp)` unless it exists: tmp is renamed to out when make returns. */
function product(out: string, make: (tmp: string) => void, log: (s: string) => void): void {
  if (existsSync(out)) return;
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const t0 = performance.now();
  make(tmp);
  renameSync(tmp, out);
  log(`built ${out.slice(ROOT.length)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

/** A host source's products are rebuilt when the source is newer than them. */
function stale(target: string, sources: string[]): boolean {
  if (!existsSync(target)) return true;
  const t = statSync(target).mtimeMs;
  return sources.some((s) => statSync(s).mtimeMs > t);
}

const CFLAGS = ["-O2", "-std=gnu99", "-Wall", "-Wextra", "-Werror"];

/** One lock for build/third-party, so parallel test files build once (mkdir is atomic). */
async function withLock<T>(fn: () => T): Promise<T> {
  mkdirSync(RUNTIMES_DIR, { recursive: true });
  const lock = join(RUNTIMES_DIR, ".lock");
  const t0 = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock left by a killed build is stale after 15 minutes
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() - t0 > 20 * 60_000) throw new Error(`${lock}: still locked after 20 minutes`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return fn();
  } finally {
    rmdirSync(lock);
  }
}

/** Builds whatever of runtimes() is missing; returns them. `log` gets one line per product built. */
export async function buildRuntimes(log: (s: string) => void = () => {}): Promise<Runtime[]> {
  return withLock(() => {
    const list = runtimes();
    const wasm3 = tarball("wasm3"), wamr = tarball("wamr"), simde = tarball("simde");
    const jobs = ["-j", "2"];

    // wasm3: objects into libm3.a, then the CLI and our host
    const w3 = join(RUNTIMES_DIR, wasm3.key);
    extract(wasm3.path, join(w3, "src"));
    const w3src = join(w3, "src", "wasm3", "source");
    product(join(w3, "lib"), (tmp) => {
      const sources = readdirSync(w3src).filter((f) => f.endsWith(".c"));
      // Two compilers at a time
      for (let i = 0; i < sources.length; i += 2) {
        const batch = sources.slice(i, i + 2).map((f) => spawnSync("gcc", ["-O2", "-c", join(w3src, f), "-o", join(tmp, f.replace(/\.c$/, ".o"))], { encoding: "utf8" }));
        for (const r of batch) if (r.status !== 0) throw new Error(`gcc (wasm3) failed:\n${r.stderr}`);
      }
      run("ar", ["rcs", join(tmp, "libm3.a"), ...sources.map((f) => join(tmp, f.replace(/\.c$/, ".o")))]);
    }, log);
    const w3lib = join(w3, "lib", "libm3.a");
    product(join(w3, "out"), (tmp) => {
      run("gcc", ["-O2", `-I${w3src}`, join(w3, "src", "wasm3", "platforms", "app", "main.c"), w3lib, "-lm", "-o", join(tmp, "wasm3")]);
    }, log);
    const common = join(HOSTS, "host-common.h");
    // Our hosts, after every runtime (a host that does not compile leaves the runtimes built)
    const hosts: (() => void)[] = [];
    hosts.push(() => {
      const src = join(HOSTS, "wasm3-host.c"), host = join(w3, "out", "wasm3-host");
      if (!stale(host, [src, common])) return;
      run("gcc", [...CFLAGS, `-I${w3src}`, `-I${HOSTS}`, src, w3lib, "-lm", "-o", host]);
      log("built wasm3-host");
    });

    // WAMR: three interpreter builds, each iwasm + libiwasm.a, then our host against the library
    const wamrRoot = join(RUNTIMES_DIR, wamr.key);
    extract(wamr.path, join(wamrRoot, "src"));
    const wamrSrc = join(wamrRoot, "src", "wamr");
    const simdeSrc = join(RUNTIMES_DIR, simde.key, "src", "simde");
    const base = ["-DWAMR_BUILD_INTERP=1", "-DWAMR_BUILD_AOT=0", "-DWAMR_BUILD_JIT=0", "-DWAMR_BUILD_FAST_JIT=0", "-DWAMR_BUILD_LIBC_WASI=0", "-DCMAKE_BUILD_TYPE=Release"];
    const variants: { name: RuntimeName; dir: string; flags: string[] }[] = [
      { name: "wamr-classic", dir: "classic", flags: ["-DWAMR_BUILD_FAST_INTERP=0", "-DWAMR_BUILD_SIMD=0"] },
      { name: "wamr-fast", dir: "fast", flags: ["-DWAMR_BUILD_FAST_INTERP=1", "-DWAMR_BUILD_SIMD=0"] },
      { name: "wamr-fast-simd", dir: `fast-simd-${simde.key}`, flags: ["-DWAMR_BUILD_FAST_INTERP=1", "-DWAMR_BUILD_SIMD=1",
        `-DFETCHCONTENT_SOURCE_DIR_SIMDE=${simdeSrc}`, "-DFETCHCONTENT_FULLY_DISCONNECTED=ON"] },
    ];
    for (const v of variants) {
      const dir = join(wamrRoot, v.dir);
      if (v.name === "wamr-fast-simd") extract(simde.path, join(RUNTIMES_DIR, simde.key, "src"));
      product(join(dir, "out"), (tmp) => {
        const b = join(dir, "cmake");
        rmSync(b, { recursive: true, force: true });
        run("cmake", ["-S", join(wamrSrc, "product-mini", "platforms", "linux"), "-B", b, ...base, ...v.flags]);
        run("cmake", ["--build", b, "--target", "iwasm", ...jobs]);
        // iwasm is a symlink to iwasm-<version>
        renameSync(realpathSync(join(b, "iwasm")), join(tmp, "iwasm"));
        renameSync(join(b, "libiwasm.a"), join(tmp, "libiwasm.a"));
      }, log);
      hosts.push(() => {
        const host = join(dir, "out", "wamr-host"), src = join(HOSTS, "wamr-host.c");
        if (!stale(host, [src, common])) return;
        run("gcc", [...CFLAGS, `-I${join(wamrSrc, "core", "iwasm", "include")}`, `-I${HOSTS}`, src, join(dir, "out", "libiwasm.a"), "-lm", "-ldl", "-lpthread", "-o", host]);
        log(`built ${v.name} wamr-host`);
      });
    }
    for (const h of hosts) h();
    return list;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const list = await buildRuntimes((s) => process.stdout.write(`${s}\n`));
  for (const r of list) process.stdout.write(`${r.name}: ${r.cli} ${r.host}\n`);
  process.stdout.write(`build:runtimes ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
