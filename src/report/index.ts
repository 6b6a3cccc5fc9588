/**
 * `md2pr report RUN_DIR`: a self-contained HTML report of a run directory, with a PNG of every chart beside it.
 * It shows the demo's results.json (table and chart), an ablation file when there is one (chart with error bars and
 * table), and per training stage every loss term, the learning rate, the false-negative filter's masked fraction
 * and threshold, gradient norm / throughput and the dev metrics over steps (from `work/<stage>/train-log.jsonl`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { ablationChart, pairedChart, resultsChart, stageCharts, type ChartDef } from "./charts.ts";
import { renderPage, type ChartFigure, type ReportPage, type StageSection } from "./html.ts";
import { readAblation, readResults } from "./inputs.ts";
import { readTrainingLogs } from "./logs.ts";
import { renderChart, scopeSvgIds } from "./render.ts";

export interface ReportOptions {
  /** An ablation file (results/ablation-scifact.json format); default: `<run>/ablation.json` when present. */
  ablationFile?: string | null;
  /** Output directory; default `<run>/report`. */
  outDir?: string;
}

export interface ReportResult {
  html: string;
  pngs: string[];
  charts: number;
}

/** Ablation files looked for in the run directory when none is given. */
export const DEFAULT_ABLATION_NAMES = ["ablation.json", "ablation-scifact.json"];

export async function writeReport(runDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  if (!existsSync(runDir)) throw new Error(`run directory not found: ${runDir}`);
  const outDir = options.outDir ?? join(runDir, "report");
  const notes: string[] = [];
  const pngs: string[] = [];
  const draw = async (chart: ChartDef): Promise<ChartFigure> => {
    const { svg, png } = await renderChart(chart.spec);
    const pngName = `${chart.id}.png`;
    writeFileAtomic(join(outDir, pngName), png);
    pngs.push(join(outDir, pngName));
    return { id: chart.id, title: chart.title, caption: chart.caption, svg: scopeSvgIds(svg, chart.id), png: pngName };
  };

  const resultsFile = join(runDir, "results.json");
  let results: ReportPage["results"] = null;
  if (existsSync(resultsFile)) {
    const rows = readResults(resultsFile);
    results = { file: resultsFile, rows, figure: await draw(resultsChart(rows)) };
  } else notes.push(`no ${resultsFile} (written at the end of \`md2pr demo\` / \`md2pr train\`): no results table`);

  const ablationFile = options.ablationFile ?? DEFAULT_ABLATION_NAMES.map((n) => join(runDir, n)).find((f) => existsSync(f)) ?? null;
  let ablation: ReportPage["ablation"] = null;
  if (ablationFile) {
    const rows = readAblation(ablationFile);
    const paired = pairedChart(rows);
    ablation = { file: ablationFile, rows, figure: await draw(ablationChart(rows)), paired: paired ? await draw(paired) : null };
  }

  const stages: StageSection[] = [];
  for (const stage of readTrainingLogs(runDir)) {
    if (stage.steps.length === 0 && stage.evals.length === 0) {
      notes.push(`${stage.file} is empty`);
      continue;
    }
    const figures: ChartFigure[] = [];
    for (const chart of stageCharts(stage, `stage-${stage.name}`)) figures.push(await draw(chart));
    stages.push({ stage, file: relative(runDir, stage.file), figures });
  }
  if (stages.length === 0) notes.push(`no training logs under ${join(runDir, "work")}/*/train-log.jsonl`);
  if (!results && !ablation && stages.length === 0) throw new Error(`${runDir}: nothing to report (no results.json, ablation file or training logs)`);

  const html = renderPage({ runDir, generatedAt: new Date().toISOString(), version: packageVersion(), results, ablation, stages, notes });
  const htmlFile = join(outDir, "report.html");
  writeFileAtomic(htmlFile, html);
  return { html: htmlFile, pngs, charts: pngs.length };
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}
