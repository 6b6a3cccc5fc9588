/** `md2pr encode`: the corpus through the retriever's passage encoder into a dense index directory. */
import type { Command } from "commander";
import { encodeCorpus } from "../../encoding/encode-corpus.ts";
import { TokenizedCorpus } from "../../retrieval/tokenized-corpus.ts";
import { loadCorpusFile } from "../io.ts";
import { loadRetriever } from "../models.ts";
import { action, log, newCommand, parsePositiveIntArg } from "../util.ts";

interface EncodeOptions {
  model: string;
  corpus: string;
  out: string;
  batchSize: number;
}

export function encodeCommand(): Command {
  const cmd = newCommand(
    "encode",
    "Encodes every passage of a corpus (BEIR corpus.jsonl, MS MARCO collection.tsv or DPR psgs_w100.tsv; title and " +
      "text joined) with a trained retriever into a dense index directory (float32 embeddings, ids, index.json stamped " +
      "with the model's fingerprint). Passages are batched by length; the work is saved as it goes, so an interrupted " +
      "encode of the same model resumes where it stopped, and a finished index is reused as is. Search it with " +
      "`md2pr search --index DIR` or build an HNSW graph with `md2pr index`.",
    "md2pr encode --model runs/scifact/retriever --corpus data/scifact/corpus.jsonl --out runs/scifact/index",
  );
  cmd
    .requiredOption("--model <dir>", "retriever directory (from `md2pr train`)")
    .requiredOption("--corpus <file>", "corpus file (.jsonl BEIR, .tsv MS MARCO or DPR)")
    .requiredOption("--out <dir>", "dense index directory to write (or resume)")
    .option("--batch-size <n>", "passages per forward pass", parsePositiveIntArg, 64)
    .action(action("encode", async () => {
      const o = cmd.opts<EncodeOptions>();
      const { model, tokenizer } = loadRetriever(o.model);
      const docs = await loadCorpusFile(o.corpus);
      const t0 = Date.now();
      const index = await encodeCorpus(model, new TokenizedCorpus(docs, tokenizer), o.out, { batchSize: o.batchSize, label: "encode" });
      log(`encode: ${index.count} passages x ${index.dim} dims in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
