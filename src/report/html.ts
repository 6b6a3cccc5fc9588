/** The report page: one self-contained HTML document (inline CSS and SVG, no script, nothing fetched). */
import type { AblationRow, ResultRow } from "./inputs.ts";
import { isPairedRow, METRICS } from "./inputs.ts";
import type { StageLog } from "./logs.ts";

export interface ChartFigure {
  id: string;
  title: string;
  caption: string;
  svg: string;
  /** The PNG's file name, relative to the HTML file. */
  png: string;
}

export interface StageSection {
  stage: StageLog;
  /** The log file as shown to the reader (relative to the run directory). */
  file: string;
  figures: ChartFigure[];
}

export interface ReportPage {
  runDir: string;
  generatedAt: string;
  version: string;
  results: { file: string; rows: ResultRow[]; figure: ChartFigure } | null;
  ablation: { file: string; rows: AblationRow[]; figure: ChartFigure; paired: ChartFigure | null } | null;
  stages: StageSection[];
  /** Things the report looked for and did not find (shown so a missing section is explained). */
  notes: string[];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const fmt = (x: number): string => x.toFixed(4);

function figure(f: ChartFigure): string {
  return `<figure class="chart" id="chart-${escapeHtml(f.id)}" data-chart="${escapeHtml(f.id)}">\n${f.svg}\n` +
    `<figcaption>${escapeHtml(f.caption)} <a href="${escapeHtml(f.png)}">PNG</a></figcaption>\n</figure>`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], numericFrom = 1): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c, j) => `<td${j >= numericFrom ? ' class="num"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${trs}\n</tbody>\n</table>`;
}

function resultsSection(r: NonNullable<ReportPage["results"]>): string {
  const rows = r.rows.map((row) => [row.system, fmt(row.ndcg10), fmt(row.mrr10), fmt(row.recall100)]);
  return `<section id="results">\n<h2>Test results</h2>\n<p>From <code>${escapeHtml(r.file)}</code>.</p>\n` +
    `${table(["system", ...METRICS.map((m) => m.name)], rows)}\n${figure(r.figure)}\n</section>`;
}

function ablationSection(a: NonNullable<ReportPage["ablation"]>): string {
  const rows = a.rows.filter((r) => !isPairedRow(r)).map((r) => [
    r.variant, ...METRICS.map((m) => `${fmt(r[`${m.key}_mean`])} ± ${fmt(r[`${m.key}_std`])}`),
    r.dev_ndcg10_mean === undefined ? "" : fmt(r.dev_ndcg10_mean), r.seeds.join(","),
  ]);
  const commands = [...new Set(a.rows.map((r) => r.command).filter((c): c is string => Boolean(c)))];
  return `<section id="ablation">\n<h2>Ablation</h2>\n<p>From <code>${escapeHtml(a.file)}</code>` +
    (commands.length ? `, made by <code>${commands.map(escapeHtml).join("</code>; <code>")}</code>` : "") + ".</p>\n" +
    `${figure(a.figure)}\n${table(["variant", ...METRICS.map((m) => `${m.name} (mean ± sd)`), "dev nDCG@10", "seeds"], rows)}\n` +
    (a.paired ? `${figure(a.paired)}\n${pairedTable(a.rows.filter(isPairedRow))}\n` : "") + "</section>";
}

function pairedTable(rows: readonly AblationRow[]): string {
  const p = (x: number | undefined): string => (x === undefined ? "" : x.toFixed(4));
  return table(["paired difference", "nDCG@10 [95% interval]", "p (nDCG@10)", "R@100 [95% interval]", "p (R@100)", "seeds"], rows.map((r) => [
    r.variant, `${fmt(r.ndcg10_mean)} [${fmt(r.ci95_low!)}, ${fmt(r.ci95_high!)}]`, p(r.p_value),
    r.recall100_ci95_low === undefined ? fmt(r.recall100_mean) : `${fmt(r.recall100_mean)} [${fmt(r.recall100_ci95_low)}, ${fmt(r.recall100_ci95_high!)}]`,
    p(r.recall100_p_value), r.seeds.join(","),
  ]));
}

function stageSection(s: StageSection): string {
  const { stage } = s;
  const keys = [...new Set(stage.steps.flatMap((r) => Object.keys(r.values)))];
  const last = stage.evals[stage.evals.length - 1];
  const lastEval = last ? `<p>Last evaluation (step ${last.step}): ${Object.entries(last.metrics).map(([k, v]) => `${escapeHtml(k)} ${fmt(v)}`).join(", ")}.</p>\n` : "";
  return `<section class="stage" id="stage-${escapeHtml(stage.name)}">\n<h3>${escapeHtml(stage.label)}</h3>\n` +
    `<p><code>${escapeHtml(s.file)}</code>: ${stage.steps.length} steps, ${stage.evals.length} evaluations; logged per step: ${keys.map(escapeHtml).join(", ")}.</p>\n` +
    `${lastEval}${s.figures.map(figure).join("\n")}\n</section>`;
}

const CSS = `body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.6em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure.chart{margin:1em 0}figure.chart svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#555}
code{background:#f4f4f4;padding:0 .2em}.notes{color:#8a5a00}nav a{margin-right:1em}`;

export function renderPage(page: ReportPage): string {
  const nav = [
    page.results ? `<a href="#results">results</a>` : "",
    page.ablation ? `<a href="#ablation">ablation</a>` : "",
    ...page.stages.map((s) => `<a href="#stage-${escapeHtml(s.stage.name)}">${escapeHtml(s.stage.label)}</a>`),
  ].filter(Boolean).join(" ");
  const notes = page.notes.length ? `<ul class="notes">${page.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>\n` : "";
  const training = page.stages.length
    ? `<section id="training">\n<h2>Training</h2>\n${page.stages.map(stageSection).join("\n")}\n</section>`
    : "";
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>md2pr report: ${escapeHtml(page.runDir)}</title>\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n<style>${CSS}</style>\n</head>\n<body>\n` +
    `<h1>md2pr report: <code>${escapeHtml(page.runDir)}</code></h1>\n<p>Generated ${escapeHtml(page.generatedAt)} by md2pr ${escapeHtml(page.version)}.</p>\n` +
    `<nav>${nav}</nav>\n${notes}${page.results ? resultsSection(page.results) : ""}\n${page.ablation ? ablationSection(page.ablation) : ""}\n${training}\n</body>\n</html>\n`;
}
