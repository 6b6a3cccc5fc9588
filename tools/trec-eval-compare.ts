/**
 * Dev-time check of `md2pr eval` against a real trec_eval (9.x / 10.0): every measure both offer, per query and
 * averaged. Debian has no trec_eval package, so bring a binary (built from NIST's sources) or its output:
 *
 *   node --import tsx tools/trec-eval-compare.ts --qrels Q --run R [-l N] [-c] --trec-eval /path/to/trec_eval
 *   node --import tsx tools/trec-eval-compare.ts --qrels Q --run R [-l N] [-c] --output out.txt   # `trec_eval -q -m all_trec [-l N] [-c] Q R > out.txt`
 *
 * trec_eval prints 4 decimals, so values agree when |md2pr - trec_eval| <= 5e-5. Exit status 1 on any mismatch.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { evaluate } from "../src/retrieval/metrics.ts";
import { loadQrels } from "../src/retrieval/readers.ts";
import { readTrecRun } from "../src/retrieval/metrics.ts";

interface Args { qrels: string; run: string; level: number; complete: boolean; bin?: string; output?: string }

function parseArgs(argv: readonly string[]): Args {
  const a: Partial<Args> = { level: 1, complete: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${f} needs a value`);
      return v;
    };
    if (f === "--qrels") a.qrels = next();
    else if (f === "--run") a.run = next();
    else if (f === "-l" || f === "--level") a.level = Number(next());
    else if (f === "-c" || f === "--complete") a.complete = true;
    else if (f === "--trec-eval") a.bin = next();
    else if (f === "--output") a.output = next();
    else throw new Error(`unknown argument ${f}`);
  }
  if (!a.qrels || !a.run || (!a.bin && !a.output)) throw new Error("usage: --qrels Q --run R [-l N] [-c] (--trec-eval BIN | --output FILE)");
  return a as Args;
}

/** trec_eval measure names (as printed) that md2pr computes; the name is passed to md2pr unchanged. */
const COMPARED = /^(ndcg_cut_\d+|P_\d+|recall_\d+|map_cut_\d+|success_\d+|map|recip_rank|Rprec|ndcg)$/;

/** `measure \t qid \t value` lines -> qid -> measure -> value. */
function parseTrecEvalOutput(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const [measure, qid, value] = f as [string, string, string];
    if (!COMPARED.test(measure) && measure !== "num_q") continue;
    const v = Number(value);
    if (!Number.isFinite(v)) continue;
    if (!out.has(qid)) out.set(qid, new Map());
    out.get(qid)!.set(measure, v);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let text: string;
  if (args.bin) {
    const flags = ["-q", "-m", "all_trec", `-l${args.level}`, ...(args.complete ? ["-c"] : []), args.qrels, args.run];
    const r = spawnSync(args.bin, flags, { encoding: "utf8", maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${args.bin} ${flags.join(" ")} failed (${r.status}): ${r.stderr}`);
    text = r.stdout;
  } else {
    text = readFileSync(args.output!, "utf8");
  }
  const theirs = parseTrecEvalOutput(text);
  const all = theirs.get("all");
  if (!all) throw new Error("no 'all' lines in the trec_eval output (run it with -q)");
  const measures = [...all.keys()].filter((m) => COMPARED.test(m));
  const ev = evaluate(await readTrecRun(args.run), await loadQrels(args.qrels, "trec"), { metrics: measures, relevanceLevel: args.level, complete: args.complete });
  let checked = 0;
  const bad: string[] = [];
  const cmp = (qid: string, m: string, ours: number | undefined, ref: number): void => {
    checked++;
    if (ours === undefined || Math.abs(ours - ref) > 5e-5) bad.push(`${m} ${qid}: md2pr ${ours} trec_eval ${ref}`);
  };
  if (all.get("num_q") !== undefined && all.get("num_q") !== ev.numQueries) bad.push(`num_q: md2pr ${ev.numQueries} trec_eval ${all.get("num_q")}`);
  for (const m of measures) cmp("all", m, ev.mean[m], all.get(m)!);
  for (const [qid, values] of theirs) {
    if (qid === "all") continue;
    for (const [m, v] of values) if (COMPARED.test(m)) cmp(qid, m, ev.perQuery.get(qid)?.[m], v);
  }
  console.log(`${measures.length} measures, ${theirs.size - 1} queries, -l ${args.level}${args.complete ? " -c" : ""}: ${checked - bad.length} of ${checked} values agree`);
  for (const b of bad.slice(0, 30)) console.log(`  MISMATCH ${b}`);
  if (bad.length) process.exit(1);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
