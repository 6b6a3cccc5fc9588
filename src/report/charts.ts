/**
 * The report's charts as Vega-Lite specifications (pure data -> spec; rendering is in render.ts): per training
 * stage the loss terms, the learning rate, the false-negative filter (masked-negative fraction, threshold theta),
 * gradient norm and throughput, and the dev metrics over steps; the demo's results; the ablation with error bars.
 */
import type { TopLevelSpec } from "vega-lite";
import type { AblationRow, ResultRow } from "./inputs.ts";
import { isPairedRow, METRICS } from "./inputs.ts";
import type { StageLog } from "./logs.ts";

export interface ChartDef {
  /** File-name-safe id, unique in a report (the PNG is `<id>.png`). */
  id: string;
  title: string;
  /** One or two sentences under the chart: what is drawn and how. */
  caption: string;
  spec: TopLevelSpec;
}

/** The groups of per-step numbers a stage's chart set is made of, in display order. */
export const STEP_GROUPS = [
  { id: "loss", title: "Loss terms", smooth: true },
  { id: "lr", title: "Learning rate", smooth: false },
  { id: "filter", title: "False-negative filter: masked-negative fraction and threshold", smooth: true },
  { id: "other", title: "Gradient norm, throughput and other logged numbers", smooth: true },
] as const;
export type StepGroupId = (typeof STEP_GROUPS)[number]["id"];

/** Which group a logged per-step key belongs to. */
export function stepGroupOf(key: string): StepGroupId {
  if (key === "lr") return "lr";
  if (key === "masked_fraction" || key === "filter_theta") return "filter";
  if (key === "loss" || key.startsWith("l_") || key.startsWith("loss_") || key.endsWith("_loss")) return "loss";
  return "other";
}

/** At most this many points per drawn series (longer logs are thinned by a stride after smoothing). */
export const MAX_POINTS = 1500;

const WIDTH = 560;
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const CONFIG = { font: FONT, view: { stroke: "#ddd" }, axis: { labelFontSize: 11, titleFontSize: 11 }, title: { fontSize: 14, anchor: "start" } } as const;

/** Trailing moving average over `window` values (the first values average what precedes them). */
export function trailingMean(values: readonly number[], window: number): number[] {
  const w = Math.max(1, Math.floor(window));
  const out = new Array<number>(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= w) sum -= values[i - w]!;
    out[i] = sum / Math.min(i + 1, w);
  }
  return out;
}

/** The smoothing window for a series of n steps: about 1/30 of the run, at least 1. */
export function smoothingWindow(n: number): number {
  return Math.max(1, Math.round(n / 30));
}

/** Indices kept when thinning n points to at most `max` (always the first and the last). */
export function thinIndices(n: number, max: number = MAX_POINTS): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = Math.ceil(n / max);
  const kept: number[] = [];
  for (let i = 0; i < n; i += stride) kept.push(i);
  if (kept[kept.length - 1] !== n - 1) kept.push(n - 1);
  return kept;
}

interface SeriesRow {
  step: number;
  series: string;
  value: number;
  smoothed: number;
}

/** Long-format rows for the given keys of a stage's step records, smoothed (when asked) and thinned. */
export function seriesRows(stage: StageLog, keys: readonly string[], smooth: boolean): SeriesRow[] {
  const rows: SeriesRow[] = [];
  for (const key of keys) {
    const points = stage.steps.filter((s) => s.values[key] !== undefined).map((s) => ({ step: s.step, value: s.values[key]! }));
    const smoothed = smooth ? trailingMean(points.map((p) => p.value), smoothingWindow(points.length)) : points.map((p) => p.value);
    for (const i of thinIndices(points.length)) rows.push({ step: points[i]!.step, series: key, value: points[i]!.value, smoothed: smoothed[i]! });
  }
  return rows;
}

/** Small multiples, one row per series with its own y scale: every step thin, the trailing mean thick. */
function seriesSpec(title: string, rows: SeriesRow[], keys: readonly string[], smooth: boolean): TopLevelSpec {
  const x = { field: "step", type: "quantitative", title: "optimizer step", axis: { format: "d", tickMinStep: 1 } } as const;
  const raw = { mark: { type: "line", strokeWidth: 1, opacity: smooth ? 0.35 : 1, color: "#4c78a8" }, encoding: { x, y: { field: "value", type: "quantitative", title: null, scale: { zero: false } } } } as const;
  const mean = { mark: { type: "line", strokeWidth: 2, color: "#e45756" }, encoding: { x, y: { field: "smoothed", type: "quantitative", title: null, scale: { zero: false } } } } as const;
  return {
    $schema: SCHEMA,
    title,
    data: { values: rows },
    facet: { row: { field: "series", type: "nominal", sort: [...keys], title: null, header: { labelAngle: 0, labelAlign: "left", labelFontSize: 12 } } },
    spec: { width: WIDTH, height: 110, layer: smooth ? [raw, mean] : [raw] },
    resolve: { scale: { y: "independent" } },
    config: CONFIG,
  } as TopLevelSpec;
}

/** The charts of one training stage (groups it did not log are left out). */
export function stageCharts(stage: StageLog, idPrefix: string): ChartDef[] {
  const keys = [...new Set(stage.steps.flatMap((s) => Object.keys(s.values)))];
  const charts: ChartDef[] = [];
  for (const group of STEP_GROUPS) {
    const groupKeys = keys.filter((k) => stepGroupOf(k) === group.id);
    if (groupKeys.length === 0) continue;
    const rows = seriesRows(stage, groupKeys, group.smooth);
    const n = stage.steps.length;
    const caption = group.smooth
      ? `${stage.label}: ${groupKeys.join(", ")} at each of ${n} logged steps (thin blue) and their trailing mean over ${smoothingWindow(n)} steps (red); each panel has its own y scale.`
      : `${stage.label}: ${groupKeys.join(", ")} at each of ${n} logged steps.`;
    charts.push({ id: `${idPrefix}-${group.id}`, title: `${stage.label}: ${group.title}`, caption, spec: seriesSpec(`${stage.label}: ${group.title}`, rows, groupKeys, group.smooth) });
  }
  if (stage.evals.length > 0) charts.push(devChart(stage, `${idPrefix}-dev`));
  return charts;
}

/** Dev metrics at each evaluation of a stage, one line per metric. */
function devChart(stage: StageLog, id: string): ChartDef {
  const rows = stage.evals.flatMap((e) => Object.entries(e.metrics).map(([metric, value]) => ({ step: e.step, metric, value })));
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const lastStep = Math.max(...stage.evals.map((e) => e.step), ...stage.steps.map((s) => s.step));
  const title = `${stage.label}: dev metrics`;
  const spec = {
    $schema: SCHEMA,
    title,
    data: { values: rows },
    width: WIDTH,
    height: 200,
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "step", type: "quantitative", title: "optimizer step", scale: { domain: [0, lastStep] }, axis: { format: "d", tickMinStep: 1 } },
      y: { field: "value", type: "quantitative", title: "dev value", scale: { zero: false } },
      color: { field: "metric", type: "nominal", sort: metrics, title: "metric" },
    },
    config: CONFIG,
  } as TopLevelSpec;
  return { id, title, caption: `${stage.label}: ${metrics.join(", ")} on the dev split at each of ${stage.evals.length} evaluations.`, spec };
}

/** The demo's test results: one bar per system, one panel per metric. */
export function resultsChart(rows: readonly ResultRow[]): ChartDef {
  const values = rows.flatMap((r) => METRICS.map((m) => ({ system: r.system, metric: m.name, value: r[m.key] })));
  const systems = rows.map((r) => r.system);
  const title = "Test results per system";
  const spec = {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { column: { field: "metric", type: "nominal", sort: METRICS.map((m) => m.name), title: null, header: { labelFontSize: 12 } } },
    spec: {
      width: 170,
      height: 200,
      layer: [
        { mark: { type: "bar", color: "#4c78a8" }, encoding: { x: { field: "system", type: "nominal", sort: systems, title: null, axis: { labelAngle: -35 } }, y: { field: "value", type: "quantitative", title: null, scale: { domain: [0, 1] } } } },
        { mark: { type: "text", dy: -6, fontSize: 10 }, encoding: { x: { field: "system", type: "nominal", sort: systems }, y: { field: "value", type: "quantitative" }, text: { field: "value", type: "quantitative", format: ".3f" } } },
      ],
    },
    config: CONFIG,
  } as TopLevelSpec;
  return { id: "results", title, caption: "nDCG@10, MRR@10 and R@100 of each system on the test queries (results.json).", spec };
}

/** Which ablation variants have error bars (two seeds or more); the others are listed in the table only. */
export function chartedVariants(rows: readonly AblationRow[]): AblationRow[] {
  return rows.filter((r) => r.per_seed.length >= 2 && !isPairedRow(r));
}

/** The paired rows ("X - contrastive"): the difference's mean with its 95% interval, for nDCG@10 and R@100, against zero. */
export function pairedChart(rows: readonly AblationRow[]): ChartDef | null {
  const paired = rows.filter(isPairedRow);
  if (paired.length === 0) return null;
  const variants = paired.map((r) => r.variant);
  const values = paired.flatMap((r) => [
    { variant: r.variant, metric: "nDCG@10", value: r.ndcg10_mean, lo: r.ci95_low!, hi: r.ci95_high! },
    ...(r.recall100_ci95_low !== undefined && r.recall100_ci95_high !== undefined
      ? [{ variant: r.variant, metric: "R@100", value: r.recall100_mean, lo: r.recall100_ci95_low, hi: r.recall100_ci95_high }]
      : []),
  ]);
  const x = { field: "variant", type: "nominal", sort: variants, title: null, axis: { labelAngle: -35 } } as const;
  const y = { type: "quantitative", title: "difference", scale: { zero: true } } as const;
  const title = "Ablation: paired differences (mean and 95% interval over seeds)";
  const spec = {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { column: { field: "metric", type: "nominal", sort: ["nDCG@10", "R@100"], title: null, header: { labelFontSize: 12 } } },
    spec: {
      width: 260,
      height: 230,
      layer: [
        { mark: { type: "rule", color: "#888", strokeDash: [4, 3] }, encoding: { y: { datum: 0, type: "quantitative" } } },
        { mark: { type: "errorbar", ticks: true, color: "#4c78a8" }, encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" } } },
        { mark: { type: "point", filled: true, size: 70, color: "#4c78a8" }, encoding: { x, y: { ...y, field: "value" } } },
      ],
    },
    resolve: { scale: { y: "independent" } },
    config: CONFIG,
  } as TopLevelSpec;
  return { id: "ablation-paired", title, caption: "Per-seed difference of each variant to the baseline: mean and 95% t interval over seeds; the dashed line is no difference.", spec };
}

/** The ablation: per variant and metric the mean over seeds with +-1 sample standard deviation, and each seed's value. */
export function ablationChart(rows: readonly AblationRow[]): ChartDef {
  const charted = chartedVariants(rows);
  const variants = charted.map((r) => r.variant);
  const values = charted.flatMap((r) =>
    METRICS.flatMap((m) => {
      const mean = r[`${m.key}_mean`];
      const std = r[`${m.key}_std`];
      return [
        { kind: "mean", variant: r.variant, metric: m.name, value: mean, lo: mean - std, hi: mean + std },
        ...r.per_seed.map((s) => ({ kind: "seed", variant: r.variant, metric: m.name, value: s[m.key], lo: null, hi: null })),
      ];
    }),
  );
  const x = { field: "variant", type: "nominal", sort: variants, title: null, axis: { labelAngle: -35 } } as const;
  const y = { type: "quantitative", title: null, scale: { zero: false } } as const;
  const title = "Ablation: test metrics per variant (mean ± 1 sd over seeds)";
  const spec = {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { column: { field: "metric", type: "nominal", sort: METRICS.map((m) => m.name), title: null, header: { labelFontSize: 12 } } },
    spec: {
      width: 190,
      height: 230,
      layer: [
        { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: "point", color: "#9e9e9e", size: 25 }, encoding: { x, y: { ...y, field: "value" } } },
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: "errorbar", ticks: true, color: "#e45756" }, encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" } } },
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: "point", filled: true, size: 70, color: "#e45756" }, encoding: { x, y: { ...y, field: "value" } } },
      ],
    },
    resolve: { scale: { y: "independent" } },
    config: CONFIG,
  } as TopLevelSpec;
  const seeds = [...new Set(charted.map((r) => r.per_seed.length))].join(" or ");
  const left = rows.filter((r) => !charted.includes(r) && !isPairedRow(r)).map((r) => r.variant);
  const caption = `Red: mean over ${seeds} seeds with ±1 sample standard deviation; grey: each seed.` +
    (left.length ? ` Single-seed rows (${left.join(", ")}) have no spread and are in the table only.` : "");
  return { id: "ablation", title, caption, spec };
}
