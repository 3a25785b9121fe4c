// Generated sections inside a hand-kept or generated Markdown file: `<!-- name:start -->` … `<!-- name:end -->`.
// Two generators can share one file (npm run reproduce and npm run pareto both write docs/RESULTS.md).

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
  const [start, end] = marks(name);
  const block = `${start}\n${body.trim()}\n${end}`;
  const old = getSection(text, name);
  return old ? text.replace(old, () => block) : `${text.trimEnd()}\n\n${block}\n`;
}
