// File access a user names: OS errors become one-line UserErrors naming the path.
import { accessSync, constants, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { readFile, writeFile } from "node:fs/promises";
import { UserError } from "./errors.ts";

const READ_REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such file (a parent is not a directory)",
};

const WRITE_REASONS: Record<string, string> = {
  ENOENT: "no such directory",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such directory (a parent is not a directory)",
  EROFS: "read-only file system",
};

function userError(path: string, err: unknown, reasons: Record<string, string>, verb: string): UserError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return new UserError(`${path}: ${reasons[code] ?? `cannot ${verb} (${code || (err as Error).message})`}`);
}

export function readFileForUser(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw userError(path, err, READ_REASONS, "read");
  }
}

export function writeFileForUser(path: string, data: Uint8Array | string): void {
  try {
    writeFileSync(path, data);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
}

export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw userError(path, err, READ_REASONS, "read");
  }
}

export async function writeUserFile(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
}

/**
 * Checks, before any work, that `path` can be written: its folder exists and is writable and the path
 * is not a folder. Throws the UserError writeUserFile would throw after the work.
 */
export function checkOutputPath(path: string): void {
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
  if (!st.isDirectory()) throw new UserError(`${path}: ${WRITE_REASONS.ENOTDIR}`);
  try {
    if (statSync(path).isDirectory()) throw new UserError(`${path}: ${WRITE_REASONS.EISDIR}`);
  } catch (err) {
    if (err instanceof UserError) throw err;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
}
