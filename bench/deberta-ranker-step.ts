/**
 * Cost of a ranker training step (forward + backward of the listwise loss) and of a teacher forward (no grad),
 * BERT vs DeBERTa-v3 layout at the demo's ranker sizes (hidden 256, 4 layers, 4 heads, intermediate 1024):
 * 8 queries x 8 candidates = 64 pairs of 100..160 tokens (seeded random ids). The train step runs padding-free
 * (packed) for both, as md2pr's rankers do; the teacher forward asks for attention maps and hidden states, so it
 * runs padded for both. DeBERTa-v3: relative attention, c2p + p2c, shared keys, 256 buckets over 512 positions
 * (deberta-v3-base's settings). Times are wall-clock (cpu: this process's CPU time), medians.
 *
 *   MD2PR_NUM_THREADS=1 node --import tsx bench/deberta-ranker-step.ts [--steps 3]
 */
import { parseArgs } from "node:util";
import { backward, noGrad, reshape } from "../src/engine/index.ts";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { Rng } from "../src/engine/rng.ts";
import type { BertInput } from "../src/models/bert.ts";
import { makeBertConfig } from "../src/models/config.ts";
import { CrossEncoder } from "../src/models/cross-encoder.ts";
import { makeDebertaV2Config } from "../src/models/deberta-config.ts";
import { DebertaCrossEncoder } from "../src/models/deberta-cross-encoder.ts";
import type { PairRanker } from "../src/models/pair-ranker.ts";
import { listwiseLoss } from "../src/training/losses/listwise.ts";

const { values } = parseArgs({ options: { steps: { type: "string", default: "3" } } });
const steps = Number(values.steps);
const sizes = { hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1 };
const vocab = 8000;

function batch(seed: number): BertInput {
  const rng = new Rng(seed);
  const B = 64;
  const lens = Array.from({ length: B }, () => 100 + rng.int(61));
  const T = Math.max(...lens);
  const input: BertInput = { inputIds: new Int32Array(B * T), tokenTypeIds: new Int32Array(B * T), attentionMask: new Float32Array(B * T), batch: B, seq: T };
  lens.forEach((n, b) => {
    for (let t = 0; t < n; t++) {
      input.inputIds[b * T + t] = 5 + rng.int(vocab - 5);
      input.attentionMask[b * T + t] = 1;
      if (t > 20) input.tokenTypeIds[b * T + t] = 1;
    }
  });
  return input;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(name: string, ranker: PairRanker): void {
  const rng = new Rng(1);
  const train: number[] = [];
  const teacher: number[] = [];
  const trainCpu: number[] = [];
  const teacherCpu: number[] = [];
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let i = 0; i <= steps; i++) {
    const input = batch(i);
    let t0 = performance.now();
    let c0 = cpuMs();
    const out = ranker.forward(input, { training: true, rng, lexical: new Float32Array(input.batch) });
    backward(listwiseLoss(reshape(out.scores, [8, 8])));
    for (const p of ranker.params.values()) p.grad = null;
    const tTrain = performance.now() - t0;
    const cTrain = cpuMs() - c0;
    t0 = performance.now();
    c0 = cpuMs();
    noGrad(() => ranker.forward(input, { lexical: new Float32Array(input.batch), outputAttentions: true, outputHiddenStates: true }));
    const tTeach = performance.now() - t0;
    const cTeach = cpuMs() - c0;
    if (i > 0) {
      train.push(tTrain);
      teacher.push(tTeach);
      trainCpu.push(cTrain);
      teacherCpu.push(cTeach);
    }
  }
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  console.log(`${name.padEnd(34)} train step ${s(median(train))} s (cpu ${s(median(trainCpu))} s)   teacher forward ${s(median(teacher))} s (cpu ${s(median(teacherCpu))} s)   (${ranker.params.size} tensors)`);
}

console.log(`kernels: ${kernelsInfo()}; 64 pairs of 100..160 tokens; median of ${steps}`);
measure("BERT (packed)", CrossEncoder.random(makeBertConfig({ ...sizes, vocabSize: vocab, maxPositionEmbeddings: 512 }), 0, true));
const v3 = { ...sizes, vocabSize: vocab, relativeAttention: true, positionBuckets: 256, maxRelativePositions: 512, posAttType: ["p2c", "c2p"] as ("p2c" | "c2p")[], shareAttKey: true, normRelEbd: ["layer_norm"], positionBiasedInput: false, typeVocabSize: 0 };
measure("DeBERTa-v3 (256 buckets)", DebertaCrossEncoder.random(makeDebertaV2Config(v3), 0, true));
measure("DeBERTa-v3 (32 buckets over 128)", DebertaCrossEncoder.random(makeDebertaV2Config({ ...v3, positionBuckets: 32, maxRelativePositions: 128 }), 0, true));
