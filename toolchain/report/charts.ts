// Charts for the HTML report and the generated docs (docs/*.svg): a Vega-Lite spec rendered to SVG at
// generation time, with no DOM and no network (the data is inline).
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** Renders one Vega-Lite spec to an SVG string (no DOM, no network: data is inline). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
