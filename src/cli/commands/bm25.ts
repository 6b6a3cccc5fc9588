/** `md2pr bm25`: builds and saves a BM25 index of a corpus (for `search --bm25` and hybrid search). */
import type { Command } from "commander";
import { Bm25Index, DEFAULT_BM25_PARAMS } from "../../retrieval/bm25.ts";
import { readCorpusFile } from "../io.ts";
import { claimOutput } from "../../util/output.ts";
import { CorpusFingerprinter } from "../../util/provenance.ts";
import { action, CliError, log, newCommand, parseFloatArg } from "../util.ts";

interface Bm25Options {
  corpus: string;
  out: string;
  k1: number;
  b: number;
  luceneNorms: boolean;
  overwrite?: boolean;
}

export function bm25Command(): Command {
  const cmd = newCommand(
    "bm25",
    "Builds an in-memory inverted index of a corpus (BEIR corpus.jsonl, MS MARCO collection.tsv or DPR psgs_w100.tsv) " +
      "scored like Lucene's BM25 (Anserini's BEIR \"flat\" setting: title + text in one field, Lucene's one-byte length " +
      "norms) and saves it to a directory, written atomically. Search it with `md2pr search --bm25 DIR`, alone or " +
      "fused with a dense retriever.",
    "md2pr bm25 --corpus data/scifact/corpus.jsonl --out runs/scifact-bm25",
  );
  cmd
    .requiredOption("--corpus <file>", "corpus file (.jsonl BEIR, .tsv MS MARCO or DPR)")
    .requiredOption("--out <dir>", "index directory to write")
    .option("--k1 <x>", "BM25 k1", parseFloatArg, DEFAULT_BM25_PARAMS.k1)
    .option("--b <x>", "BM25 b", parseFloatArg, DEFAULT_BM25_PARAMS.b)
    .option("--no-lucene-norms", "use exact document lengths instead of Lucene's quantized norms")
    .option("--overwrite", "replace an --out that holds files md2pr did not write (default: refuse)")
    .action(action("bm25", async () => {
      const o = cmd.opts<Bm25Options>();
      if (!(o.k1 >= 0)) throw new CliError(`--k1: must be >= 0, got ${o.k1}`);
      if (!(o.b >= 0 && o.b <= 1)) throw new CliError(`--b: must be in [0, 1], got ${o.b}`);
      claimOutput(o.out, { type: "dir", kind: "bm25-index" }, { overwrite: o.overwrite });
      const t0 = Date.now();
      const corpus = new CorpusFingerprinter();
      async function* fingerprinted(): AsyncGenerator<{ id: string; title: string; text: string }> {
        for await (const d of readCorpusFile(o.corpus)) {
          corpus.add(d.id, d.title, d.text);
          yield d;
        }
      }
      const index = await Bm25Index.build(fingerprinted(), { params: { k1: o.k1, b: o.b, luceneNorms: o.luceneNorms } });
      if (index.numDocs === 0) throw new CliError(`${o.corpus}: the corpus is empty`);
      await index.save(o.out, { corpus: corpus.digest() });
      log(`bm25: indexed ${index.numDocs} documents, ${index.numTerms} terms in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
