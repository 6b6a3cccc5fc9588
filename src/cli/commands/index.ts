/** `md2pr index`: an HNSW graph over a dense index, for approximate search. */
import type { Command } from "commander";
import { DenseIndex, HnswIndex } from "../../retrieval/dense-index.ts";
import { claimOutput } from "../../util/output.ts";
import { action, log, newCommand, parseIntArg, parsePositiveIntArg, requireDir } from "../util.ts";

interface IndexOptions {
  index: string;
  out: string;
  m: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  overwrite?: boolean;
}

export function indexCommand(): Command {
  const cmd = newCommand(
    "index",
    "Builds a hierarchical navigable small world graph (hnswlib, inner-product space) over the embeddings of a dense " +
      "index written by `md2pr encode`, and saves it (hnsw.bin, hnsw.json, ids.txt) atomically. The graph keeps the " +
      "encoder's fingerprint, so searching it with another model is refused. Larger --m and --ef-construction give " +
      "better recall for more memory and build time; --ef-search is the default query-time breadth.",
    "md2pr index --index runs/scifact/index --out runs/scifact/hnsw --m 16 --ef-construction 200",
  );
  cmd
    .requiredOption("--index <dir>", "dense index directory (from `md2pr encode`)")
    .requiredOption("--out <dir>", "HNSW index directory to write")
    .option("--m <n>", "graph degree", parsePositiveIntArg, 16)
    .option("--ef-construction <n>", "build-time candidate list size", parsePositiveIntArg, 200)
    .option("--ef-search <n>", "query-time candidate list size (raised to k when smaller)", parsePositiveIntArg, 100)
    .option("--seed <n>", "random seed of the level assignment", parseIntArg, 100)
    .option("--overwrite", "replace an --out that holds files md2pr did not write (default: refuse)")
    .action(action("index", async () => {
      const o = cmd.opts<IndexOptions>();
      claimOutput(o.out, { type: "dir", kind: "hnsw-index" }, { overwrite: o.overwrite });
      requireDir(o.index, "dense index directory");
      const dense = await DenseIndex.load(o.index);
      const t0 = Date.now();
      const hnsw = HnswIndex.fromDense(dense, { m: o.m, efConstruction: o.efConstruction, efSearch: o.efSearch, seed: o.seed });
      await hnsw.save(o.out);
      log(`index: HNSW over ${hnsw.count} vectors (m ${o.m}, efConstruction ${o.efConstruction}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
