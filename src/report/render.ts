/**
 * Rendering a Vega-Lite chart without a browser: vega-lite compiles it to Vega, vega's headless View draws it to an
 * SVG string (no canvas needed), and resvg rasterises that SVG to a PNG (its prebuilt binary ships in the npm
 * package). The SVG goes inline into the report's HTML, so the page needs neither JavaScript nor the network.
 */
import { Resvg } from "@resvg/resvg-js";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface RenderedChart {
  svg: string;
  png: Buffer;
}

/** Renders a chart to SVG and to a PNG at `scale` times the SVG's size. */
export async function renderChart(spec: TopLevelSpec, scale = 2): Promise<RenderedChart> {
  const vegaSpec = compile(spec).spec;
  const view = new View(parse(vegaSpec), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: "zoom", value: scale },
      font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    }).render().asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

/**
 * Prefixes every `id` of an SVG (and the `url(#id)` / `href="#id"` references to it) so several charts can be
 * inlined in one HTML document without their clip paths or gradients colliding.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!));
  if (ids.size === 0) return svg;
  return svg
    .replace(/\sid="([^"]+)"/g, (_, id: string) => ` id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (whole, id: string) => (ids.has(id) ? `url(#${prefix}-${id})` : whole))
    .replace(/href="#([^"]+)"/g, (whole, id: string) => (ids.has(id) ? `href="#${prefix}-${id}"` : whole));
}
