/**
 * Self-supervised training pairs from the corpus itself, for a cold start with few labelled queries:
 *   - title -> abstract: the title is the query, the untitled text the positive;
 *   - inverse cloze task (ICT): one sentence is the query, the rest of its passage the positive.
 * Positives are new pseudo-passages ("ss-abs:<id>", "ss-ict:<id>:<k>") added to a derived corpus; hard
 * negatives can be mined for them with BM25 like for real queries (or left to in-batch negatives).
 */
import { Rng } from "../engine/rng.ts";
import type { CorpusText } from "../retrieval/tokenized-corpus.ts";
import type { TrainingExample } from "./data.ts";

export type PairKind = "title" | "ict";

export interface SelfSupervisedSet {
  docs: Map<string, CorpusText>;
  examples: TrainingExample[];
}

/** The kind of a pseudo-query or pseudo-passage id made here ("ss-title:"/"ss-abs:" -> title; "ss-ict..." -> ict). */
export function pairKindOf(id: string): PairKind {
  return id.startsWith("ss-ict") ? "ict" : "title";
}

/** The source document's id of a pseudo-query or pseudo-passage id made here ("ss-ict:<id>:<k>" -> <id>). */
export function sourceDocId(id: string): string {
  const rest = id.slice(id.indexOf(":") + 1);
  return pairKindOf(id) === "ict" ? rest.slice(0, rest.lastIndexOf(":")) : rest;
}

/** Splits text into sentences at ., ! or ? followed by white space and an upper-case letter or digit. */
export function splitSentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+(?=[A-Z0-9])/).map((s) => s.trim()).filter((s) => s.length > 0);
}

export function selfSupervisedPairs(corpus: ReadonlyMap<string, CorpusText>, kinds: readonly PairKind[], seed: number): SelfSupervisedSet {
  const rng = new Rng(seed);
  const docs = new Map<string, CorpusText>();
  const examples: TrainingExample[] = [];
  for (const [id, doc] of corpus) {
    if (kinds.includes("title") && doc.title.trim().length > 0 && doc.text.trim().length > 0) {
      const pid = `ss-abs:${id}`;
      docs.set(pid, { title: "", text: doc.text });
      examples.push({ queryId: `ss-title:${id}`, query: doc.title, positiveIds: [pid], negativeIds: [] });
    }
    if (kinds.includes("ict")) {
      const sentences = splitSentences(doc.text);
      if (sentences.length >= 3) {
        const k = rng.int(sentences.length);
        const pid = `ss-ict:${id}:${k}`;
        docs.set(pid, { title: doc.title, text: sentences.filter((_, i) => i !== k).join(" ") });
        examples.push({ queryId: `ss-ict-q:${id}:${k}`, query: sentences[k]!, positiveIds: [pid], negativeIds: [] });
      }
    }
  }
  return { docs, examples };
}
