// Terminal tables and colours for every command: colour only on a terminal (or FORCE_COLOR), never with NO_COLOR.
import Table from "cli-table3";
import pc from "picocolors";

export const colors = pc.createColors(pc.isColorSupported && (!!process.stdout.isTTY || !!process.env.FORCE_COLOR));

/** A compact table with bold headings and no coloured borders. */
export function table(head: string[], align?: ("left" | "right")[]): Table.Table {
  return new Table({ head: head.map((h) => colors.bold(h)), ...(align ? { colAligns: align } : {}), style: { head: [], border: [], compact: true } });
}
