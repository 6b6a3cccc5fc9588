/**
 * `evaluate` / `md2pr eval` on TREC DL 2019 (shared/data/msmarco/dl19: 43 queries, grades 0..3) against a second,
 * independent implementation written the way trec_eval 10.0 computes (form_res_rels.c, m_*.c): a per-query
 * `results_rel_list` in float32-score order, `rel_levels` counts, the ideal DCG walked down from the top level.
 * The run is synthetic (no MS MARCO corpus here): each query's judged passages plus 20 unjudged ids, scores from a
 * hash rounded to 2 decimals (so many ties, broken by docid), 5 queries left out, written as a TREC file with a
 * comment line and a 7th field. Checked at -l 1, 2 and 3 (where some queries have no relevant passage: counted,
 * scoring 0), with and without -c.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { evaluate, readTrecRun, type Run } from "../../src/retrieval/metrics.ts";
import { loadQrels, type Qrels } from "../../src/retrieval/readers.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const DL19 = [join(root, "..", "shared", "data", "msmarco", "dl19"), "/work/shared/data/msmarco/dl19"].find((d) => existsSync(join(d, "qrels.dl19-passage.txt")));
const METRICS = [
  "ndcg_cut.10", "ndcg@5", "ndcg@100", "ndcg", "map", "map@10", "P.10", "p@20", "recall.100", "recall@1000", "recip_rank", "mrr@10",
  "Rprec", "success.1", "success@10", "mrr10_msmarco",
];
const LEFT_OUT = 5;

interface Line { qid: string; docno: string; rank: number; sim: number }

function hashScore(s: string): number {
  return Math.round((createHash("sha256").update(s).digest().readUInt32BE(0) / 2 ** 32) * 100) / 100;
}

function syntheticRun(qrels: Qrels): Line[] {
  const lines: Line[] = [];
  const qids = [...qrels.keys()].sort();
  for (const qid of qids.slice(LEFT_OUT)) {
    const docs = [...qrels.get(qid)!.keys(), ...Array.from({ length: 20 }, (_, j) => `unjudged-${qid}-${j}`)];
    const scored = docs.map((docno) => ({ docno, sim: hashScore(`${qid} ${docno}`) }));
    // rank column: the file order, deliberately not the score order (trec_eval ignores it; mrr10_msmarco uses it)
    scored.sort((a, b) => (a.docno < b.docno ? -1 : 1)).forEach((d, i) => lines.push({ qid, docno: d.docno, rank: i + 1, sim: d.sim }));
  }
  return lines;
}

// ---- the reference: trec_eval's computation, written independently of src/retrieval/metrics.ts ----

function strcmpDesc(a: string, b: string): number {
  return Buffer.compare(Buffer.from(b, "utf8"), Buffer.from(a, "utf8"));
}

interface ResRels { relList: number[]; relLevels: number[]; numRel: number }

function formResRels(lines: readonly Line[], judged: ReadonlyMap<string, number>, level: number): ResRels {
  const f32 = new Float32Array(1);
  const docs = lines.map((l) => {
    f32[0] = l.sim;
    return { docno: l.docno, sim: f32[0]! };
  });
  docs.sort((a, b) => (a.sim > b.sim ? -1 : a.sim < b.sim ? 1 : strcmpDesc(a.docno, b.docno)));
  const relList = docs.map((d) => judged.get(d.docno) ?? -1);
  let maxRel = 0;
  for (const r of judged.values()) maxRel = Math.max(maxRel, r);
  const relLevels = new Array<number>(maxRel + 1).fill(0);
  for (const r of judged.values()) if (r >= 0) relLevels[r]!++;
  let numRel = 0;
  for (let i = level; i < relLevels.length; i++) numRel += relLevels[i]!;
  return { relList, relLevels, numRel };
}

function idealDcg(relLevels: readonly number[], cutoff: number): number {
  let lvl = relLevels.length - 1;
  let count = 0;
  let idcg = 0;
  for (let i = 0; i < cutoff; i++) {
    count++;
    while (lvl > 0 && count > relLevels[lvl]!) {
      lvl--;
      count = 1;
    }
    if (lvl === 0) break;
    idcg += lvl / Math.log2(i + 2);
  }
  return idcg;
}

function referenceMeasure(name: string, rr: ResRels, fileOrder: readonly Line[], judged: ReadonlyMap<string, number>, level: number): number {
  const cut = (re: RegExp): number => Number(re.exec(name)![1]);
  const relAt = (i: number): boolean => rr.relList[i]! >= level;
  const upTo = (k: number): number => Math.min(k, rr.relList.length);
  if (/^(ndcg_cut\.|ndcg@)\d+$|^ndcg$/.test(name)) {
    const k = name === "ndcg" ? Infinity : cut(/(\d+)$/);
    let dcg = 0;
    for (let i = 0; i < upTo(k); i++) if (rr.relList[i]! > 0) dcg += rr.relList[i]! / Math.log2(i + 2);
    const idcg = idealDcg(rr.relLevels, k);
    return idcg > 0 ? dcg / idcg : 0;
  }
  if (name === "map" || /^map@\d+$/.test(name)) {
    const k = name === "map" ? Infinity : cut(/(\d+)$/);
    let found = 0;
    let sum = 0;
    for (let i = 0; i < upTo(k); i++) if (relAt(i)) sum += ++found / (i + 1);
    return rr.numRel > 0 ? sum / rr.numRel : 0;
  }
  if (/^(P\.|p@)\d+$/.test(name)) {
    const k = cut(/(\d+)$/);
    let found = 0;
    for (let i = 0; i < upTo(k); i++) if (relAt(i)) found++;
    return found / k;
  }
  if (/^recall[.@]\d+$/.test(name)) {
    const k = cut(/(\d+)$/);
    let found = 0;
    for (let i = 0; i < upTo(k); i++) if (relAt(i)) found++;
    return rr.numRel > 0 ? found / rr.numRel : 0;
  }
  if (name === "recip_rank" || name === "mrr@10") {
    const k = name === "recip_rank" ? Infinity : 10;
    for (let i = 0; i < upTo(k); i++) if (relAt(i)) return 1 / (i + 1);
    return 0;
  }
  if (name === "Rprec") {
    let found = 0;
    for (let i = 0; i < upTo(rr.numRel); i++) if (relAt(i)) found++;
    return rr.numRel > 0 ? found / rr.numRel : 0;
  }
  if (/^success[.@]\d+$/.test(name)) {
    const k = cut(/(\d+)$/);
    for (let i = 0; i < upTo(k); i++) if (relAt(i)) return 1;
    return 0;
  }
  if (name === "mrr10_msmarco") {
    const slots = new Map<number, string>();
    for (const l of fileOrder) slots.set(l.rank, l.docno);
    for (let r = 1; r <= 10; r++) if ((judged.get(slots.get(r) ?? "") ?? -1) >= level) return 1 / r;
    return 0;
  }
  throw new Error(`reference: no measure ${name}`);
}

function reference(lines: readonly Line[], qrels: Qrels, level: number, complete: boolean): { mean: Record<string, number>; numQ: number } {
  const byQuery = new Map<string, Line[]>();
  for (const l of lines) byQuery.set(l.qid, [...(byQuery.get(l.qid) ?? []), l]);
  const sums: Record<string, number> = Object.fromEntries(METRICS.map((m) => [m, 0]));
  let numQ = 0;
  for (const [qid, judged] of qrels) {
    const qLines = byQuery.get(qid);
    if (!qLines && !complete) continue;
    const rr = formResRels(qLines ?? [], judged, level);
    for (const m of METRICS) sums[m]! += referenceMeasure(m, rr, qLines ?? [], judged, level);
    numQ++;
  }
  const mean: Record<string, number> = {};
  for (const m of METRICS) mean[m] = sums[m]! / (m === "mrr10_msmarco" ? qrels.size : numQ);
  return { mean, numQ };
}

// ---- the tests ----

let tmp = "";
let qrels: Qrels;
let lines: Line[];
let run: Run;
let runFile = "";
const qrelsFile = DL19 ? join(DL19, "qrels.dl19-passage.txt") : "";

describe("trec_eval semantics on TREC DL 2019", { skip: DL19 ? false : "shared/data/msmarco/dl19 not found" }, () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "md2pr-dl19-"));
    qrels = await loadQrels(qrelsFile, "trec");
    lines = syntheticRun(qrels);
    runFile = join(tmp, "dl19-synthetic.trec");
    writeFileSync(runFile, `# synthetic DL19 run\n${lines.map((l) => `${l.qid} Q0 ${l.docno} ${l.rank} ${l.sim.toFixed(2)} synth extra`).join("\n")}\n`);
    run = await readTrecRun(runFile);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("the data: 43 judged queries, grades 0..3, a run over 38 of them with tied scores", () => {
    assert.equal(qrels.size, 43);
    assert.equal(run.size, 43 - LEFT_OUT);
    const grades = new Set([...qrels.values()].flatMap((m) => [...m.values()]));
    assert.deepEqual([...grades].sort(), [0, 1, 2, 3]);
    const tied = [...run.values()].some((hits) => new Set(hits.map((h) => h.score)).size < hits.length);
    assert.ok(tied, "the synthetic run has tied scores");
  });

  for (const level of [1, 2, 3]) {
    for (const complete of [false, true]) {
      it(`every measure equals the trec_eval-style reference at -l ${level}${complete ? " -c" : ""}`, () => {
        const ev = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: level, complete });
        const ref = reference(lines, qrels, level, complete);
        assert.equal(ev.numQueries, ref.numQ);
        assert.equal(ev.numQueries, complete ? 43 : 43 - LEFT_OUT);
        for (const m of METRICS) {
          assert.ok(Math.abs(ev.mean[m]! - ref.mean[m]!) < 1e-12, `${m} at -l ${level}: ${ev.mean[m]} vs reference ${ref.mean[m]}`);
          assert.ok(ev.mean[m]! >= 0 && ev.mean[m]! <= 1);
        }
      });
    }
  }

  it("-l 2 moves MAP, recall, MRR and P but not nDCG; -c rescales by the queries in both / all", () => {
    const l1 = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: 1 });
    const l2 = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: 2 });
    const l2c = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: 2, complete: true });
    for (const m of ["ndcg_cut.10", "ndcg@5", "ndcg@100", "ndcg"]) assert.equal(l2.mean[m], l1.mean[m], m);
    for (const m of ["map", "recall.100", "recip_rank", "P.10", "Rprec"]) assert.notEqual(l2.mean[m], l1.mean[m], m);
    assert.ok(l2.mean["P.10"]! < l1.mean["P.10"]!, "fewer relevant docs at level 2");
    for (const m of METRICS) {
      if (m === "mrr10_msmarco") assert.equal(l2c.mean[m], l2.mean[m]);
      else assert.ok(Math.abs(l2c.mean[m]! - (l2.mean[m]! * (43 - LEFT_OUT)) / 43) < 1e-12, m);
    }
    assert.equal(l2.missingQueries, LEFT_OUT);
    assert.equal(l2.queriesWithoutRelevant, 0);
    const l3 = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: 3 });
    assert.ok(l3.queriesWithoutRelevant > 0, "some DL19 queries have no grade-3 passage");
    assert.equal(l3.numQueries, 43 - LEFT_OUT, "and are still averaged over");
  });

  it("md2pr eval -l 2 -c --json prints the library's values", async () => {
    const bin = join(root, "bin", "md2pr.js");
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, "eval", "--run", runFile, "--qrels", qrelsFile, "-l", "2", "-c", "--json", "--metrics", METRICS.join(",")], { cwd: root });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`md2pr eval exited ${code}: ${stderr}`))));
    });
    const json = JSON.parse(out) as { metrics: Record<string, number>; queries: number; relevanceLevel: number; complete: boolean; queriesWithoutRelevant: number };
    const ev = evaluate(run, qrels, { metrics: METRICS, relevanceLevel: 2, complete: true });
    assert.equal(json.queries, 43);
    assert.equal(json.relevanceLevel, 2);
    assert.equal(json.complete, true);
    assert.equal(json.queriesWithoutRelevant, ev.queriesWithoutRelevant);
    for (const m of METRICS) assert.equal(json.metrics[m], ev.mean[m], m);
  });
});
