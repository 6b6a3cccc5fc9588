/** `md2pr index`: an approximate-search index over a dense index: a LanceDB table (with the passages) or an HNSW graph. */
import { Option, type Command } from "commander";
import { lanceFromDense } from "../../api/vector-index.ts";
import { DenseIndex, HnswIndex } from "../../retrieval/dense-index.ts";
import { isLanceUri, type LanceAnnIndex } from "../../retrieval/lance-store.ts";
import { claimOutput } from "../../util/output.ts";
import { readArtifact, writeArtifact } from "../../util/provenance.ts";
import { loadCorpusFile } from "../io.ts";
import { action, CliError, log, newCommand, parseIntArg, parsePositiveIntArg, requireDir } from "../util.ts";

interface IndexOptions {
  index: string;
  out: string;
  backend: "lance" | "hnsw";
  corpus?: string;
  ann: "ivf-flat" | "ivf-pq" | "ivf-rq" | "ivf-hnsw-sq" | "none";
  partitions?: number;
  subVectors?: number;
  table: string;
  m: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  overwrite?: boolean;
}

/** The ANN index of a LanceDB table of `count` rows as the flags ask (none below 256 rows: PQ needs that many). */
function annSpec(o: IndexOptions, count: number, dim: number): LanceAnnIndex | null {
  if (o.ann === "none" || count < 256) return null;
  const numPartitions = o.partitions ?? Math.max(1, Math.round(Math.sqrt(count)));
  if (o.ann === "ivf-hnsw-sq") return { type: "ivf-hnsw-sq", numPartitions, m: o.m, efConstruction: o.efConstruction };
  if (o.ann === "ivf-flat" || o.ann === "ivf-rq") return { type: o.ann, numPartitions };
  const numSubVectors = o.subVectors ?? (dim % 8 === 0 ? dim / 8 : 1);
  if (dim % numSubVectors !== 0) throw new CliError(`--sub-vectors ${numSubVectors} does not divide the dimension ${dim}`);
  return { type: "ivf-pq", numPartitions, numSubVectors };
}

export function indexCommand(): Command {
  const cmd = newCommand(
    "index",
    "Builds an approximate-search index over the embeddings of a dense index written by `md2pr encode`. --backend " +
      "lance (default) writes a LanceDB table (id, vector, title, text; the encoder's fingerprint in its schema) to a " +
      "directory or any URI LanceDB accepts (s3://, gs://, az://), taking the passages' text from --corpus, and builds " +
      "an IVF-FLAT index there (--ann: ivf-flat, ivf-pq, ivf-rq, ivf-hnsw-sq, or none for an exhaustive scan); search it with `md2pr search --index DIR|URI`, and " +
      "its results carry the passage text. --backend hnsw builds an in-memory hnswlib graph (hnsw.bin, hnsw.json, " +
      "ids.txt): sub-millisecond queries, but good recall needs normalized vectors (a --similarity cosine model). Both keep the encoder's fingerprint, so searching with another model is refused.",
    "md2pr index --index runs/scifact/index --corpus data/scifact/corpus.jsonl --out runs/scifact/lance",
  );
  cmd
    .requiredOption("--index <dir>", "dense index directory (from `md2pr encode`)")
    .requiredOption("--out <dir|uri>", "where to write: a directory, or (lance) a LanceDB URI")
    .addOption(new Option("--backend <name>", "lance (a LanceDB table with the passages) or hnsw (an hnswlib graph)").choices(["lance", "hnsw"]).default("lance"))
    .option("--corpus <file>", "lance: the corpus the index was encoded from (the passages' title and text)")
    .addOption(new Option("--ann <kind>", "lance: the ANN index").choices(["ivf-flat", "ivf-pq", "ivf-rq", "ivf-hnsw-sq", "none"]).default("ivf-flat"))
    .option("--partitions <n>", "lance: IVF partitions (default sqrt(passages))", parsePositiveIntArg)
    .option("--sub-vectors <n>", "lance, ivf-pq: PQ sub-vectors (default dim / 8)", parsePositiveIntArg)
    .option("--table <name>", "lance: the table name", "passages")
    .option("--m <n>", "hnsw (and lance ivf-hnsw-sq): graph degree", parsePositiveIntArg, 16)
    .option("--ef-construction <n>", "hnsw: build-time candidate list size", parsePositiveIntArg, 200)
    .option("--ef-search <n>", "hnsw: query-time candidate list size (raised to k when smaller)", parsePositiveIntArg, 100)
    .option("--seed <n>", "hnsw: random seed of the level assignment", parseIntArg, 100)
    .option("--overwrite", "replace an --out that holds files md2pr did not write (default: refuse)")
    .action(action("index", async () => {
      const o = cmd.opts<IndexOptions>();
      if (o.backend === "lance" && !o.corpus) throw new CliError("--backend lance needs --corpus (the passages' text goes into the table)");
      const remote = o.backend === "lance" && isLanceUri(o.out) && o.out.includes("://");
      if (!remote) claimOutput(o.out, o.backend === "lance" ? { type: "dir", kind: "vector-table", stamp: {} } : { type: "dir", kind: "hnsw-index" }, { overwrite: o.overwrite });
      requireDir(o.index, "dense index directory");
      const dense = await DenseIndex.load(o.index);
      const t0 = Date.now();
      if (o.backend === "hnsw") {
        const hnsw = HnswIndex.fromDense(dense, { m: o.m, efConstruction: o.efConstruction, efSearch: o.efSearch, seed: o.seed });
        await hnsw.save(o.out);
        log(`index: HNSW over ${hnsw.count} vectors (m ${o.m}, efConstruction ${o.efConstruction}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } else {
        const corpus = await loadCorpusFile(o.corpus!);
        const ann = annSpec(o, dense.count, dense.dim);
        const store = await lanceFromDense(dense, corpus, o.out, { ann, table: o.table });
        const what = ann ? `${ann.type}, ${ann.numPartitions} partitions` : "no ANN index: exhaustive search";
        log(`index: LanceDB table "${o.table}" of ${store.count} passages (${what}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        store.close();
      }
      // The approximate index is made from what the dense index was made from (model, corpus): record it.
      const made = readArtifact(o.index);
      if (made && !remote) writeArtifact(o.out, o.backend === "lance" ? "vector-table" : "hnsw-index", made.madeFrom);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
