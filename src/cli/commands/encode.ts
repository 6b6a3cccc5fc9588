/** `md2pr encode`: the corpus through the retriever's passage encoder into a dense index directory. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { encodeCorpus } from "../../encoding/encode-corpus.ts";
import { encodeShardFromStream, mergeShards, parseShardSpec } from "../../encoding/shards.ts";
import { TokenizedCorpus } from "../../retrieval/tokenized-corpus.ts";
import { loadCorpusFile, readCorpusFile } from "../io.ts";
import { loadRetriever } from "../models.ts";
import { claimOutput } from "../../util/output.ts";
import { action, CliError, log, newCommand, parsePositiveIntArg } from "../util.ts";

interface EncodeOptions {
  model?: string;
  corpus?: string;
  out: string;
  batchSize: number;
  shard?: string;
  merge?: boolean;
  overwrite?: boolean;
}

export function encodeCommand(): Command {
  const cmd = newCommand(
    "encode",
    "Encodes every passage of a corpus (BEIR corpus.jsonl, MS MARCO collection.tsv or DPR psgs_w100.tsv; title and " +
      "text joined) with a trained retriever into a dense index directory (float32 embeddings, ids, index.json stamped " +
      "with the model's fingerprint). Passages are batched by length; the work is saved as it goes, so an interrupted " +
      "encode of the same model resumes where it stopped, and a finished index is reused as is. Search it with " +
      "`md2pr search --index DIR` or build an HNSW graph with `md2pr index`. To split the work over N processes or " +
      "machines, run `--shard I/N` for I = 0..N-1 (each writes DIR/shards/I-of-N, resumable), then `--merge` once: " +
      "the merged index is byte for byte the one a single run writes (same model, corpus and --batch-size).",
    "md2pr encode --model runs/scifact/retriever --corpus data/scifact/corpus.jsonl --out runs/scifact/index",
  );
  cmd
    .option("--model <dir>", "retriever directory (from `md2pr train`); not needed with --merge")
    .option("--corpus <file>", "corpus file (.jsonl BEIR, .tsv MS MARCO or DPR); not needed with --merge")
    .requiredOption("--out <dir>", "dense index directory to write (or resume)")
    .option("--batch-size <n>", "passages per forward pass (shards of one index must use the same)", parsePositiveIntArg, 64)
    .option("--shard <i/n>", "encode only shard I of N (0-based) into DIR/shards/I-of-N")
    .option("--merge", "merge the finished shards under DIR/shards into the index DIR, then remove them")
    .option("--overwrite", "replace an --out that holds files md2pr did not write (default: refuse)")
    .action(action("encode", async () => {
      const o = cmd.opts<EncodeOptions>();
      // One writer per index (shards of one index run side by side: each writes its own folder). A merge finds the
      // shards/ folder that the shard runs wrote there, which is not itself an index: it is expected, not replaced.
      const merging = o.merge === true && existsSync(join(o.out, "shards"));
      if (o.shard === undefined) claimOutput(o.out, { type: "dir", kind: "dense-index" }, { overwrite: o.overwrite || merging });
      const t0 = Date.now();
      if (o.merge) {
        if (o.shard) throw new CliError("--merge and --shard exclude each other: encode the shards first, then merge");
        const meta = await mergeShards(o.out);
        log(`encode: merged ${meta.count} passages x ${meta.dim} dims in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        process.stdout.write(`${o.out}\n`);
        return;
      }
      if (!o.model || !o.corpus) throw new CliError("--model and --corpus are required (except with --merge)");
      const spec = o.shard === undefined ? null : parseShardOption(o.shard);
      const { model, tokenizer } = loadRetriever(o.model);
      if (spec) {
        // two passes over the file (lengths of all, then the text of this shard's passages): 1/N of the text in memory
        const corpusFile = o.corpus;
        const r = await encodeShardFromStream(model, tokenizer, () => readCorpusFile(corpusFile), o.out, spec, { batchSize: o.batchSize });
        log(`encode: shard ${spec.index}/${spec.count}: rows ${r.info.rowStart}..${r.info.rowEnd} of ${r.info.totalRows} ` +
          `in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${r.shardsDone} of ${spec.count} shards finished` +
          (r.shardsDone === spec.count ? `; merge them: md2pr encode --out ${o.out} --merge` : ""));
        process.stdout.write(`${r.dir}\n`);
        return;
      }
      const corpus = new TokenizedCorpus(await loadCorpusFile(o.corpus), tokenizer);
      const index = await encodeCorpus(model, corpus, o.out, { batchSize: o.batchSize, label: "encode", cachePieces: false });
      log(`encode: ${index.count} passages x ${index.dim} dims in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}

function parseShardOption(text: string): { index: number; count: number } {
  try {
    return parseShardSpec(text);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
