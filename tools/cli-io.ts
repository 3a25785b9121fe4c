// File access for CLI commands: OS errors a user can cause become one-line UserErrors.
import { readFile, writeFile } from "node:fs/promises";
import { UserError } from "../ts/errors.ts";

const REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such file (a parent is not a directory)",
};

export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const reason = REASONS[(err as NodeJS.ErrnoException).code ?? ""];
    if (reason) throw new UserError(`${path}: ${reason}`);
    throw err;
  }
}

const WRITE_REASONS: Record<string, string> = {
  ENOENT: "no such directory",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such directory (a parent is not a directory)",
  EROFS: "read-only file system",
};

export async function writeUserFile(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (err) {
    const reason = WRITE_REASONS[(err as NodeJS.ErrnoException).code ?? ""];
    if (reason) throw new UserError(`${path}: ${reason}`);
    throw err;
  }
}
