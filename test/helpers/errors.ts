// Assertions on thrown errors shared by the test suites.
import { expect } from "vitest";
import { FormatError, UserError } from "../../runtime/src/errors.ts";

/** What `fn` throws; fails the test if it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, but the call returned");
}

/** `fn` throws a FormatError on `field` whose message names the field and the source (and offset, if given). */
export function expectFormatError(fn: () => unknown, field: string, where: { source?: string; offset?: number } = {}): FormatError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(FormatError);
  expect(err).toBeInstanceOf(UserError);
  const fe = err as FormatError;
  expect(fe.field).toBe(field);
  expect(fe.message).toContain(field);
  if (where.source !== undefined) expect(fe.message).toContain(where.source);
  if (where.offset !== undefined) expect(fe.offset).toBe(where.offset);
  return fe;
}
