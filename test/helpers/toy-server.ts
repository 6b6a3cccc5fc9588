/**
 * What `md2pr serve` needs, built from the toy set of toy.ts into a directory: a retriever and a ranker (tiny,
 * random weights), an exact dense index of the toy corpus made by that retriever, a BM25 index, and corpus.jsonl.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Bm25Index, buildIndex, Retriever } from "../../src/index.ts";
import { toyModels, toySet } from "./toy.ts";

export interface ToyServingSet {
  retriever: string;
  index: string;
  bm25: string;
  ranker: string;
  corpus: string;
  /** id -> title and text, as in corpus.jsonl. */
  docs: ReadonlyMap<string, { title: string; text: string }>;
}

export async function writeToyServingSet(dir: string, seed = 3): Promise<ToyServingSet> {
  mkdirSync(dir, { recursive: true });
  const toy = await toySet();
  const models = toyModels(toy, seed);
  const retriever = new Retriever(models.retriever, toy.tokenizer);
  const paths = { retriever: join(dir, "retriever"), index: join(dir, "index"), bm25: join(dir, "bm25"), ranker: join(dir, "ranker"), corpus: join(dir, "corpus.jsonl") };
  retriever.save(paths.retriever);
  models.ranker.save(paths.ranker);
  toy.tokenizer.save(paths.ranker);
  const docs = toy.corpus.docs as ReadonlyMap<string, { title: string; text: string }>;
  await buildIndex(retriever, docs, paths.index);
  const bm25 = await Bm25Index.build([...docs].map(([id, d]) => ({ id, title: d.title, text: d.text })));
  await bm25.save(paths.bm25);
  writeFileSync(paths.corpus, [...docs].map(([id, d]) => JSON.stringify({ _id: id, title: d.title, text: d.text })).join("\n") + "\n");
  return { ...paths, docs };
}
