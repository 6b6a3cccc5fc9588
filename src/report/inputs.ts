/**
 * The result files a report shows besides the logs: the demo's `<run>/results.json` (one row per system, see
 * evaluateSystems in src/training/pipeline.ts) and an ablation file in the format of results/ablation-scifact.json
 * (one row per variant: mean and sample standard deviation over seeds of each test metric, and the per-seed values).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

const systemRow = z.object({
  system: z.string().min(1),
  ndcg10: z.number(),
  mrr10: z.number(),
  recall100: z.number(),
  run: z.string().optional(),
});
export type ResultRow = z.infer<typeof systemRow>;

const seedRow = z.object({ seed: z.number().int(), ndcg10: z.number(), mrr10: z.number(), recall100: z.number(), dev_ndcg10: z.number().optional() });
const ablationRow = z.object({
  variant: z.string().min(1),
  ndcg10_mean: z.number(),
  ndcg10_std: z.number().nonnegative(),
  mrr10_mean: z.number(),
  mrr10_std: z.number().nonnegative(),
  recall100_mean: z.number(),
  recall100_std: z.number().nonnegative(),
  dev_ndcg10_mean: z.number().optional(),
  seeds: z.array(z.number().int()).min(1),
  per_seed: z.array(seedRow),
  command: z.string().optional(),
  /** Paired rows ("X - contrastive"): 95% t interval over seeds of the difference, randomization-test p over queries. */
  ci95_low: z.number().optional(),
  ci95_high: z.number().optional(),
  p_value: z.number().optional(),
  recall100_ci95_low: z.number().optional(),
  recall100_ci95_high: z.number().optional(),
  recall100_p_value: z.number().optional(),
});
export type AblationRow = z.infer<typeof ablationRow>;

/** The three test metrics both files carry, with their display names. */
export const METRICS = [
  { key: "ndcg10", name: "nDCG@10" },
  { key: "mrr10", name: "MRR@10" },
  { key: "recall100", name: "R@100" },
] as const;
export type MetricKey = (typeof METRICS)[number]["key"];

export function readResults(file: string): ResultRow[] {
  return parseJsonFile(file, z.array(systemRow).min(1, "expected at least one system row"));
}

/** A paired-difference row of an ablation file (it carries a confidence interval). */
export function isPairedRow(row: AblationRow): boolean {
  return row.ci95_low !== undefined && row.ci95_high !== undefined;
}

export function readAblation(file: string): AblationRow[] {
  return parseJsonFile(file, z.array(ablationRow).min(1, "expected at least one variant"));
}

/** Parses `file` as JSON and checks it against `schema`; errors name the file and the field path (e.g. `[2].ndcg10_std`). */
export function parseJsonFile<T>(file: string, schema: z.ZodType<T>, text?: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text ?? readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").replace(/^\./, "");
    throw new Error(`${file}: ${path ? `field ${path}: ` : ""}${issue.message}`);
  }
  return parsed.data;
}
