/** A synthetic run directory for the report tests (unit and browser): logs of two stages, results, an ablation. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;

/** A run directory like the demo's: a ranker and a retriever log (with the filter's numbers), results, an ablation. */
export function writeSyntheticRun(dir: string, steps = 40): void {
  const line = (o: object): string => `${JSON.stringify(o)}\n`;
  mkdirSync(join(dir, "work", "ranker"), { recursive: true });
  mkdirSync(join(dir, "work", "retriever"), { recursive: true });
  let ranker = "";
  let retriever = "";
  for (let s = 1; s <= steps; s++) {
    const lr = 1e-3 * Math.min(s / 5, (steps - s) / (steps - 5));
    ranker += line({ stage: "ranker", step: s, lr, grad_norm: 1 + (s % 3), loss: 2 / s, items_per_s: 100 });
    retriever += line({ stage: "retriever", step: s, lr, grad_norm: 2, masked_fraction: (s % 5) / 10, filter_theta: 8 - s / 10, l_c: 3 - s / 20, l_sent: 1, l_att: 0.003, l_hid: 1.9, loss: 5 - s / 10, items_per_s: 50 });
    if (s % 10 === 0) retriever += line({ stage: "retriever", step: s, eval: { "ndcg@10": 0.3 + s / 1000, "recall@100": 0.7 } });
  }
  ranker += line({ stage: "ranker", step: steps, eval: { "ndcg@10": 0.75 } });
  writeFileSync(join(dir, "work", "ranker", "train-log.jsonl"), ranker);
  writeFileSync(join(dir, "work", "retriever", "train-log.jsonl"), retriever);
  writeFileSync(join(dir, "results.json"), JSON.stringify([
    { system: "bm25", ndcg10: 0.66, mrr10: 0.62, recall100: 0.9, run: "x" },
    { system: "retriever", ndcg10: 0.52, mrr10: 0.48, recall100: 0.85, run: "y" },
  ]));
  // a fixed ablation file (issue 3's: 5 variants x 3 seeds + the ranker), not the live results/ablation-scifact.json,
  // whose rows change with each round
  writeFileSync(join(dir, "ablation.json"), readFileSync(join(root, "test", "fixtures", "report", "ablation-3seeds.json")));
}
