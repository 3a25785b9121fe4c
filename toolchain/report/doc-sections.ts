// Generated sections inside a hand-kept or generated Markdown file: `<!-- name:start -->` … `<!-- name:end -->`.
// Several generators share one file (npm run reproduce, pareto, digits, frontier and scripts/block-table.ts all write
// docs/RESULTS.md), each only its own section; test/docs-generated.test.ts checks every section against its run JSON.
import { readFileSync, writeFileSync } from "node:fs";

/** docs/RESULTS.md's section written by scripts/pareto.ts. */
export const PARETO_SECTION = "pareto";
/** docs/RESULTS.md's section written by scripts/frontier.ts. */
export const FRONTIER_SECTION = "frontier";

const marks = (name: string) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const;

/** The section's text with its markers, or "" when the file has none. */
export function getSection(text: string, name: string): string {
  const [start, end] = marks(name);
  const i = text.indexOf(start), j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i, j + end.length) : "";
}

/** `text` with the section replaced by `body` (markers added), or appended when it has none. */
export function setSection(text: string, name: string, body: string): string {
  const block = sectionBlock(name, body);
  const old = getSection(text, name);
  return old ? text.replace(old, () => block) : `${text.trimEnd()}\n\n${block}\n`;
}

/** Rewrites the section `name` of the file at `path` with `body` (setSection on the file's text). */
export function writeSection(path: string, name: string, body: string): void {
  writeFileSync(path, setSection(readFileSync(path, "utf8"), name, body));
}

/** The section as setSection writes it: markers around `body`, trimmed. */
export function sectionBlock(name: string, body: string): string {
  const [start, end] = marks(name);
  return `${start}\n${body.trim()}\n${end}`;
}

/** `text` with the section replaced by `body`, or put at the top when it has none (a file's leading section). */
export function setLeadingSection(text: string, name: string, body: string): string {
  if (getSection(text, name)) return setSection(text, name, body);
  const block = `${sectionBlock(name, body)}\n`;
  return text ? `${block}\n${text}` : block;
}
