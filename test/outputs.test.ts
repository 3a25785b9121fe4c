// No command writes over a file it read: not by its own name, not through a symlink, not through a
// hard link (toolchain/io/files.ts checkNotAnInput; the CLI turns it on for every command).
import { spawnSync } from "node:child_process";
import { linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { checkNotAnInput, protectInputs, readFileForUser, writeFileForUser } from "../toolchain/io/files.ts";
import { checkpointTensors } from "../toolchain/import/float-checkpoint.ts";
import { Rng } from "../toolchain/model/random.ts";
import { writeSafetensors } from "../toolchain/io/safetensors-file.ts";
import { syntheticFloat } from "../toolchain/model/synthetic.ts";
import { thrown } from "./helpers/errors.ts";

const BIN = fileURLToPath(new URL("../cli/bin/rankgate.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rankgate-outputs-"));
const input = writeSafetensors(checkpointTensors(syntheticFloat(new Rng(4), [20, 8, 3])));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  writeFileSync(join(dir, "f.safetensors"), input);
  symlinkSync("f.safetensors", join(dir, "link.safetensors"));
  linkSync(join(dir, "f.safetensors"), join(dir, "hard.safetensors"));
  symlinkSync("link.safetensors", join(dir, "link2.rgm"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("outputs never overwrite an input", () => {
  for (const [what, argv, out] of [
    ["import -o a symlink to the input", ["import", "f.safetensors", "--activation", "relu", "-o", "link.safetensors"], "link.safetensors"],
    ["import -o a hard link to the input", ["import", "f.safetensors", "--activation", "relu", "-o", "hard.safetensors"], "hard.safetensors"],
    ["import through a symlink, -o the file itself", ["import", "link.safetensors", "--activation", "relu", "-o", "f.safetensors"], "f.safetensors"],
    ["import -o a chain of symlinks to a hard link of the input", ["import", "hard.safetensors", "--activation", "relu", "-o", "link2.rgm", "--format", "safetensors"], "link2.rgm"],
  ] as const) {
    it(what, () => {
      const r = cli(...argv);
      expect(r.code, r.stderr).toBe(1);
      // import's own check (same real path) or, for a hard link, the write helper's (same device and inode)
      expect(r.stderr).toMatch(new RegExp(`^rankgate: ${out.replace(".", "\\.")}: (is the input \\S+ \\(the same file through a link\\); refusing to overwrite an input, write the output elsewhere|output would overwrite the input)\\n$`));
      if (what.includes("hard link")) expect(r.stderr).toContain("refusing to overwrite an input");
      expect(readFileSync(join(dir, "f.safetensors"))).toEqual(Buffer.from(input));
    });
  }

  it("a new output (or a dangling link) is written; off by default in the library", () => {
    const r = cli("import", "f.safetensors", "--activation", "relu", "-o", "new.safetensors");
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "new.safetensors")).length).toBeGreaterThan(0);
    // Library callers opt in; before that, reading then writing a file is allowed
    const p = join(dir, "lib.bin");
    writeFileForUser(p, "a");
    readFileForUser(p);
    writeFileForUser(p, "b");
    protectInputs();
    readFileForUser(p);
    const err = thrown(() => writeFileForUser(join(dir, "lib.bin"), "c"));
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`${p}: is the input ${p}; refusing to overwrite an input, write the output elsewhere`);
    expect(readFileSync(p, "utf8")).toBe("b");
    symlinkSync("nowhere", join(dir, "dangling"));
    expect(() => checkNotAnInput(join(dir, "dangling"))).not.toThrow();
  });
});
