/** Every error a user can cause carries a plain one-line message; CLIs print it and exit 1. */
export class UserError extends Error {
  override name = "UserError";
}

/** A file's bytes break its format: names the field, its byte offset, the expected and the actual value. */
export class FormatError extends UserError {
  override name = "FormatError";
  constructor(
    readonly field: string,
    readonly offset: number,
    readonly expected: string,
    readonly actual: string,
    readonly source = "model",
  ) {
    super(`${source}: ${field} at offset ${offset}: expected ${expected}, got ${actual}`);
  }
}

/** An input tensor or argument handed to the engine is unusable. */
export class InputError extends UserError {
  override name = "InputError";
}

/** A Wasm kernel returned a negative status: a bug in planning, never a user's fault. */
export class EngineError extends Error {
  override name = "EngineError";
  constructor(readonly status: number, where: string) {
    super(`${where} returned status ${status} (${STATUS_NAMES[status] ?? "unknown"})`);
  }
}

/** The Wasm kernels' status codes (kernels/wasm/status.ts; the same numbers as the C runtime's rg_status, docs/FORMAT.md). */
export const STATUS_NAMES: Record<number, string> = {
  0: "STATUS_OK",
  [-1]: "STATUS_BAD_ARG",
  [-3]: "STATUS_NOT_FINITE",
  [-4]: "STATUS_BAD_SIZE",
};

const hex = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");
export { hex };
