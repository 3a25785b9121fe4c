// The C SDK a firmware engineer drops in (scripts/pack-c.ts, kernels/c/CMakeLists.txt, kernels/c/library.*, kernels/c/zephyr/): the
// release tarball's layout and manifests against the documented fields of each ecosystem (no network),
// fresh CMake projects that use it by add_subdirectory and by FetchContent (URL = the local tarball) with a
// generated model and a static arena sized by its header, the Zephyr CMake file against stubs, and
// rg_model_init_trusted against rg_model_init.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readModel } from "../runtime/src/format.ts";
import { Engine } from "../runtime/src/runtime.ts";
import { cModelFiles, rg_arena_bytes } from "../toolchain/model/c-header.ts";
import { buildSynthetic } from "../toolchain/model/synthetic.ts";
import { packSdk, sdkFiles, sdkVersion } from "../scripts/pack-c.ts";
import { caseModel } from "../fuzz/core.ts";
import { describeWithTools } from "./helpers/system.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VERSION = JSON.parse(readFileSync(join(ROOT, "runtime", "package.json"), "utf8")).version as string;
const tmp = mkdtempSync(join(tmpdir(), "rankgate-csdk-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd = tmp) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 120_000 });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 8).join(" ")}${args.length > 8 ? " …" : ""} exited ${r.status}:\n${r.error?.message ?? ""}${r.stdout.slice(-2000)}${r.stderr.slice(-4000)}`);
  return r.stdout;
}
const list = (d: string, p = ""): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(join(d, e.name), `${p}${e.name}/`) : [`${p}${e.name}`]));

/** key=value lines (Arduino's properties format: no sections, # comments). */
function properties(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    expect(i, `library.properties line without '=': ${line}`).toBeGreaterThan(0);
    expect(m.has(line.slice(0, i)), `duplicate key ${line.slice(0, i)}`).toBe(false);
    m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

let tgz = "", lib = "";
beforeAll(() => {
  tgz = packSdk(tmp);
  run("tar", ["-xzf", tgz, "-C", tmp]);
  lib = join(tmp, `rankgate-c-${VERSION}`);
});

it("npm run pack:c: build/rankgate-c-<version>.tar.gz holds one library folder: CMake, Arduino (src/), PlatformIO and Zephyr files; reproducible", () => {
  expect(tgz).toBe(join(tmp, `rankgate-c-${VERSION}.tar.gz`));
  expect(sdkVersion()).toBe(VERSION);
  expect(list(lib).sort()).toEqual([
    "CMakeLists.txt", "LICENSE", "README.md", "extras/example/main.c", "library.json", "library.properties",
    "src/rankgate.h", "src/rg_dot.c", "src/rg_estimate.c", "src/rg_fully_connected.c", "src/rg_gate.c", "src/rg_infer.c", "src/rg_internal.h",
    "src/rg_kernels.h", "src/rg_model.c", "src/rg_quantize.c", "src/rg_requantize.c", "src/rg_sparse.c",
    "zephyr/CMakeLists.txt", "zephyr/Kconfig", "zephyr/module.yml",
  ]);
  for (const [to, from] of sdkFiles()) expect(readFileSync(join(lib, to)), to).toEqual(readFileSync(from));
  // Every runtime source is in both CMake files' lists (a new .c must be added to them)
  const sources = readdirSync(join(ROOT, "kernels", "c", "src")).filter((f) => f.endsWith(".c")).sort();
  const cmake = readFileSync(join(lib, "CMakeLists.txt"), "utf8"), zephyr = readFileSync(join(lib, "zephyr", "CMakeLists.txt"), "utf8");
  expect([...cmake.matchAll(/src\/(rg_\w+\.c)/g)].map((m) => m[1]).sort()).toEqual(sources);
  expect([...zephyr.matchAll(/src\/(rg_\w+\.c)/g)].map((m) => m[1]).sort()).toEqual(sources);
  // Packing twice gives the same bytes
  const again = join(tmp, "again");
  mkdirSync(again);
  expect(readFileSync(packSdk(again))).toEqual(readFileSync(tgz));
});

it("library.properties has the Arduino library specification's required fields with valid values", () => {
  const p = properties(readFileSync(join(lib, "library.properties"), "utf8"));
  for (const k of ["name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures"]) expect(p.get(k)?.trim(), k).toBeTruthy();
  const known = ["name", "version", "author", "maintainer", "email", "sentence", "paragraph", "category", "url", "architectures", "depends", "dot_a_linkage", "includes", "precompiled", "ldflags"];
  expect([...p.keys()].filter((k) => !known.includes(k))).toEqual([]);
  // name: letters, digits, space _ . -, starting with a letter or digit, at most 63, not "Arduino…"
  expect(p.get("name")).toMatch(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/);
  expect(p.get("name")).not.toMatch(/^arduino/i);
  expect(p.get("version")).toBe(VERSION);
  expect(p.get("version")).toMatch(/^\d+\.\d+\.\d+$/);
  expect(["Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing", "Data Storage", "Data Processing", "Other"]).toContain(p.get("category"));
  expect(p.get("url")).toMatch(/^https?:\/\/\S+$/);
  expect(p.get("architectures")).toBe("*");
  // 1.5 format: sources and the included header under src/
  expect(p.get("includes")).toBe("rankgate.h");
  expect(list(join(lib, "src"))).toContain("rankgate.h");
});

it("library.json has PlatformIO's required fields (name, version, description) and points at folders that exist", () => {
  const j = JSON.parse(readFileSync(join(lib, "library.json"), "utf8"));
  expect(j.name).toMatch(/^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$/i);
  expect(j.name).not.toMatch(/--/);
  expect(j.version).toBe(VERSION);
  expect(j.version.length).toBeLessThanOrEqual(20);
  expect(typeof j.description).toBe("string");
  expect(j.description.length).toBeGreaterThan(0);
  expect(j.description.length).toBeLessThanOrEqual(255);
  const known = ["$schema", "name", "version", "description", "keywords", "homepage", "repository", "authors", "license", "frameworks", "platforms", "headers", "examples", "dependencies", "export", "scripts", "build"];
  expect(Object.keys(j).filter((k) => !known.includes(k))).toEqual([]);
  expect(j.license).toBe("MIT");
  expect(list(join(lib, j.build.srcDir)).filter((f: string) => f.endsWith(".c")).length).toBe(9);
  expect(list(join(lib, j.build.includeDir))).toContain(j.headers);
});

it("zephyr/module.yml names its build: cmake folder (with a CMakeLists.txt) and kconfig file; Kconfig defines RANKGATE", () => {
  const yml = readFileSync(join(lib, "zephyr", "module.yml"), "utf8").split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  expect(yml).toEqual(["name: rankgate", "build:", "  cmake: zephyr", "  kconfig: zephyr/Kconfig"]);
  expect(list(join(lib, "zephyr"))).toEqual(expect.arrayContaining(["CMakeLists.txt", "Kconfig"]));
  const kconfig = readFileSync(join(lib, "zephyr", "Kconfig"), "utf8");
  expect(kconfig).toMatch(/^config RANKGATE\n\tbool "[^"]+"\n\thelp\n/m);
  expect(readFileSync(join(lib, "zephyr", "CMakeLists.txt"), "utf8")).toMatch(/^if\(CONFIG_RANKGATE\)$/m);
});

describeWithTools(["gcc", "cmake"], "the packed library builds", () => {
  const { bytes } = buildSynthetic({ sizes: [30, 17, 9, 5], ranks: [4, 3], seed: 8, calibration: 16 });
  const model = readModel(bytes).model;

  /** A fresh CMake project: the generated model, a static arena sized by its header, the library by `use`. */
  function project(name: string, use: string): string {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const files = cModelFiles(bytes, "rgm_net", "30-17-9-5 test model", "net.h");
    writeFileSync(join(dir, "net.h"), files.header);
    writeFileSync(join(dir, "net.c"), files.source);
    writeFileSync(join(dir, "main.c"), [
      "#include <stdio.h>", '#include "net.h"', '#include "rankgate.h"',
      "static uint64_t arena[RGM_NET_ARENA_BYTES / 8u];",
      "static float x[RGM_NET_INPUTS];", "static int8_t q[RGM_NET_INPUTS], logits[RGM_NET_OUTPUTS];",
      "int main(void) {", "  rg_model m;", "  uint32_t i, label;",
      "  if (rg_model_init(&m, rgm_net, rgm_net_len) != RG_OK || rg_arena_bytes(&m) != sizeof arena) return 2;",
      "  for (i = 0; i < RGM_NET_INPUTS; i++) x[i] = (float)(i % 7u) / 7.0f;",
      "  if (rg_quantize_input_f32(&m, x, RGM_NET_INPUTS, q, sizeof q) != RG_OK) return 3;",
      "  if (rg_infer_s8(&m, arena, sizeof arena, q, RGM_NET_INPUTS, logits, RGM_NET_OUTPUTS, NULL) != RG_OK) return 4;",
      "  if (rg_argmax_s8(logits, RGM_NET_OUTPUTS, &label) != RG_OK) return 5;",
      '  printf("label %lu logits", (unsigned long)label);', '  for (i = 0; i < RGM_NET_OUTPUTS; i++) printf(" %d", logits[i]);', '  printf("\\n");',
      "  return 0;", "}", "",
    ].join("\n"));
    writeFileSync(join(dir, "CMakeLists.txt"), [
      "cmake_minimum_required(VERSION 3.14)", "project(app C)", use,
      "add_executable(app main.c net.c)", "set_target_properties(app PROPERTIES C_STANDARD 99)",
      "target_link_libraries(app PRIVATE rankgate::rankgate)", "",
    ].join("\n"));
    run("cmake", ["-S", dir, "-B", join(dir, "build"), "-DCMAKE_BUILD_TYPE=Release", "-DRANKGATE_WARNINGS_AS_ERRORS=ON", "-DFETCHCONTENT_FULLY_DISCONNECTED=OFF"]);
    run("cmake", ["--build", join(dir, "build")]);
    return run(join(dir, "build", "app"), []);
  }

  let want = "";
  beforeAll(async () => {
    const r = (await Engine.load(bytes)).infer(Float32Array.from({ length: 30 }, (_, i) => (i % 7) / 7));
    want = `label ${r.label} logits ${Array.from(r.logits).join(" ")}\n`;
    expect(rg_arena_bytes(model)).toBeGreaterThan(0);
  });

  it("add_subdirectory(<the unpacked tarball>): runs and prints Engine's label and logits", () => {
    expect(project("sub", `add_subdirectory(${JSON.stringify(lib)} rankgate)`)).toBe(want);
  });

  it("FetchContent with URL = the local tarball (no network): the same", () => {
    expect(project("fetch", ["include(FetchContent)", `FetchContent_Declare(rankgate URL ${JSON.stringify(`file://${tgz}`)})`, "FetchContent_MakeAvailable(rankgate)"].join("\n"))).toBe(want);
  });

  it("add_subdirectory(<the repository's kernels/c/>): the same CMakeLists.txt reads the include/ + src/ layout", () => {
    expect(project("repo", `add_subdirectory(${JSON.stringify(join(ROOT, "kernels", "c"))} rankgate)`)).toBe(want);
  });

  it("Arduino and PlatformIO as plain sources: src/*.c with only src/ on the include path, C99 without a warning (host)", () => {
    const sources = readdirSync(join(lib, "src")).filter((f) => f.endsWith(".c")).map((f) => join(lib, "src", f));
    const r = spawnSync("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", `-I${join(lib, "src")}`, ...sources], { cwd: tmp, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  describeWithTools(["arm-none-eabi-gcc"], "the packed sources for Cortex-M", () => {
    it("Cortex-M0+ and Cortex-M4F (DSP kernels): src/*.c with only src/ on the include path, C99 without a warning", () => {
      const sources = readdirSync(join(lib, "src")).filter((f) => f.endsWith(".c")).map((f) => join(lib, "src", f));
      for (const core of [["-mcpu=cortex-m0plus", "-mfloat-abi=soft"], ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]]) {
        const a = spawnSync("arm-none-eabi-gcc", [...core, "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", `-I${join(lib, "src")}`, ...sources], { cwd: tmp, encoding: "utf8" });
        expect(a.stderr, core[0]).toBe("");
        expect(a.status, core[0]).toBe(0);
      }
    });
  });

  it("zephyr/CMakeLists.txt with CONFIG_RANKGATE=y against stand-ins for zephyr_library(), _sources() and _include_directories()", () => {
    const dir = join(tmp, "zephyr-stub");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "CMakeLists.txt"), [
      "cmake_minimum_required(VERSION 3.14)", "project(zstub C)", "set(CONFIG_RANKGATE y)",
      "function(zephyr_library)", "  add_library(zlib STATIC)", "endfunction()",
      "function(zephyr_library_sources)", "  target_sources(zlib PRIVATE ${ARGN})", "endfunction()",
      "function(zephyr_include_directories)", "  target_include_directories(zlib PUBLIC ${ARGN})", "endfunction()",
      `add_subdirectory(${JSON.stringify(join(lib, "zephyr"))} rankgate)`,
      "add_executable(app main.c)", "target_link_libraries(app PRIVATE zlib)", "",
    ].join("\n"));
    writeFileSync(join(dir, "main.c"), '#include "rankgate.h"\nint main(void) { return rg_have_dsp(); }\n');
    run("cmake", ["-S", dir, "-B", join(dir, "build")]);
    run("cmake", ["--build", join(dir, "build")]);
    expect(spawnSync(join(dir, "build", "app")).status).toBe(0);
  });
});

describeWithTools(["gcc"], "rg_model_init_trusted", () => {
  const PROGRAM = `#include <stdio.h>
#include <stdlib.h>
#include "rankgate.h"
int main(int argc, char **argv) {
  int k;
  for (k = 1; k < argc; k++) {
    FILE *f = fopen(argv[k], "rb");
    long n;
    uint8_t *b;
    rg_model a, t;
    rg_status sa, st;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) return 9;
    b = (uint8_t *)malloc((size_t)n + 16);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) return 9;
    fclose(f);
    sa = rg_model_init(&a, b, (size_t)n);
    st = rg_model_init_trusted(&t, b, (size_t)n);
    printf("%d %s %lu | %d %s %lu | %lu %lu", (int)sa, a.field, (unsigned long)a.offset, (int)st, t.field, (unsigned long)t.offset,
           (unsigned long)rg_arena_bytes(&a), (unsigned long)rg_arena_bytes(&t));
    /* Run the small ones (the fuzz corpus has larger models) */
    if (st == RG_OK && rg_arena_bytes(&t) <= sizeof(uint64_t) * 4096u && t.n_in <= 4096u && t.n_out <= 256u) {
      static uint64_t arena[4096];
      static int8_t in[4096], out[256];
      uint32_t j;
      for (j = 0; j < t.n_in; j++) in[j] = (int8_t)(j * 37u);
      printf(" |");
      if (rg_infer_s8(&t, arena, sizeof arena, in, t.n_in, out, sizeof out, NULL) != RG_OK) printf(" infer failed");
      else
        for (j = 0; j < t.n_out; j++) printf(" %d", out[j]);
    }
    printf("\\n");
    free(b);
  }
  return 0;
}
`;

  it("runs every check but the CRC-32: a flipped payload byte passes (rg_model_init: crc32), damaged entries and elements fail on the same field; the same arena and logits; rg_model_init's verdict on 400 fuzz files but for the CRC", async () => {
    const dir = join(tmp, "trusted");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "trusted.c"), PROGRAM);
    const sources = readdirSync(join(ROOT, "kernels", "c", "src")).filter((f) => f.endsWith(".c")).map((f) => join(ROOT, "kernels", "c", "src", f));
    const exe = join(dir, "trusted");
    run("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", `-I${join(ROOT, "kernels", "c", "include")}`, ...sources, join(dir, "trusted.c"), "-o", exe]);
    const { bytes } = buildSynthetic({ sizes: [20, 12, 6], ranks: [3], seed: 41 });
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const entry = (l: number, field: number) => 64 + 96 * l + field;
    const weights0 = dv.getUint32(entry(0, 40), true), shift0 = dv.getUint32(entry(0, 52), true);
    const damaged = (edit: (d: DataView) => void) => {
      const c = bytes.slice();
      edit(new DataView(c.buffer));
      return c;
    };
    const files: [string, Uint8Array][] = [
      ["intact", bytes],
      ["weight", damaged((d) => d.setInt8(weights0 + 5, d.getInt8(weights0 + 5) ^ 0x40))],
      ["n_in", damaged((d) => d.setUint32(entry(1, 0), 13, true))],
      ["shift", damaged((d) => d.setInt32(shift0 + 4 * 7, 31, true))],
      ["short", bytes.slice(0, bytes.length - 16)],
    ];
    for (const [n, b] of files) writeFileSync(join(dir, `${n}.rgm`), b);
    const lines = run(exe, files.map(([n]) => join(dir, `${n}.rgm`))).trim().split("\n");
    const arena = rg_arena_bytes(readModel(bytes).model);
    const engine = await Engine.load(bytes);
    const x = Int8Array.from({ length: 20 }, (_, j) => ((j * 37) << 24) >> 24);
    // Trusted init runs the intact model as Engine does
    expect(lines[0]).toBe(`0  0 | 0  0 | ${arena} ${arena} | ${Array.from(engine.infer(x).logits).join(" ")}`);
    // The weight flip: only the CRC-32 catches it; trusted init runs the damaged model
    expect(lines[1]).toMatch(new RegExp(`^-2 crc32 12 \\| 0  0 \\| 0 ${arena} \\| `));
    expect(lines[2]).toBe(`-2 layers[1].n_in ${entry(1, 0)} | -2 layers[1].n_in ${entry(1, 0)} | 0 0`);
    expect(lines[3]).toBe(`-2 layers[0].shift[7] ${shift0 + 28} | -2 layers[0].shift[7] ${shift0 + 28} | 0 0`);
    expect(lines[4]).toBe("-2 file_bytes 8 | -2 file_bytes 8 | 0 0");

    // The fuzz corpus (fuzz/core.ts, seed 7, the first 400): trusted init gives rg_model_init's verdict,
    // field and offset on every file, except that a file failing only its CRC-32 is accepted
    const corpus = Array.from({ length: 400 }, (_, i) => {
      const path = join(dir, `fuzz-${i}.rgm`);
      writeFileSync(path, caseModel(7, i).bytes);
      return path;
    });
    const verdicts = run(exe, corpus).trim().split("\n").map((l) => l.split(" | "));
    let crcOnly = 0, failed = 0;
    verdicts.forEach(([init, trusted, arenas], i) => {
      const [sa] = init.split(" ");
      if (init.startsWith("-2 crc32 12")) {
        crcOnly++;
        expect(trusted, `fuzz case ${i}`).toBe("0  0");
        return;
      }
      if (sa !== "0") failed++;
      expect(trusted, `fuzz case ${i}`).toBe(init);
      const [x, y] = arenas.split(" ");
      expect(y, `fuzz case ${i}`).toBe(x);
      expect(verdicts[i].join(" | "), `fuzz case ${i}`).not.toContain("infer failed");
    });
    // The corpus holds both kinds
    expect(crcOnly).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
  });
});
