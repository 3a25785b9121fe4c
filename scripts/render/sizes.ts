// README.md's "sizes" section (the runtime package and its Wasm modules) from docs/data/sizes.json, written by
// `npx tsx scripts/sizes.ts --write`.

export const SIZES_SECTION = "sizes";
export const SIZES_RUN = "docs/data/sizes.json";
export const SIZES_COMMAND = "npx tsx scripts/sizes.ts --write";

export interface SizesRun {
  date: string;
  /** `npm pack -w rankgate --dry-run --json`: bytes of the tarball and of its files, and how many files. */
  package: { name: string; version: string; size: number; unpackedSize: number; entryCount: number };
  /** The engine modules the build makes (build/*.wasm, copied into the package), bytes. */
  wasm: { file: string; what: string; bytes: number }[];
}

const kB = (n: number) => `${(n / 1000).toFixed(1)} kB`;
const bytes = (n: number) => `${n.toLocaleString("en-US")} bytes`;

export function renderSizes(run: SizesRun): string {
  const p = run.package;
  return `Sizes, measured by \`${SIZES_COMMAND}\` on ${run.date}: the runtime package \`${p.name}\` ${p.version} is ` +
    `${kB(p.size)} packed, ${kB(p.unpackedSize)} unpacked, ${p.entryCount} files (\`npm pack -w ${p.name} --dry-run\`); ` +
    `its engine modules: ${run.wasm.map((w) => `\`${w.file}\` (${w.what}) ${bytes(w.bytes)}`).join(", ")}.`;
}
