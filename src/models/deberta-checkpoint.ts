/**
 * DeBERTa-v2/v3 model directories in Hugging Face's layout: `config.json` (DebertaV2Config keys) and
 * `model.safetensors` (HF names). Loading accepts a DebertaV2ForSequenceClassification checkpoint (`deberta.*`,
 * `pooler.dense.*`, `classifier.*`) or a bare DebertaV2Model (names without `deberta.`; the head then starts
 * random, seeded). Extra tensors (for example an MLM head) are ignored.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "../engine/tensor.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { debertaV2ConfigToJson, parseDebertaV2Config, readDebertaV2Config, writeDebertaV2Config, type DebertaV2Config } from "./deberta-config.ts";
import { DebertaV2ForSequenceClassification } from "./deberta-v2.ts";
import { loadSafetensorsFromDirectory, writeSafetensors, type TensorInput } from "./safetensors.ts";

export const DEBERTA_PREFIX = "deberta.";

export interface LoadedDebertaCheckpoint {
  config: DebertaV2Config;
  vb: VarBuilder;
  metadata: Record<string, string>;
}

/** True when a model directory's config.json says model_type "deberta-v2". */
export function isDebertaDirectory(dir: string): boolean {
  const file = join(dir, "config.json");
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { model_type?: unknown }).model_type === "deberta-v2";
  } catch {
    return false;
  }
}

export function loadDebertaCheckpoint(dir: string): LoadedDebertaCheckpoint {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new Error(`${dir}: not a model directory (no config.json)`);
  const config = readDebertaV2Config(configPath);
  const file = loadSafetensorsFromDirectory(dir);
  return { config, vb: VarBuilder.fromTensors(file.tensors, join(dir, "model.safetensors"), [DEBERTA_PREFIX]), metadata: file.metadata };
}

/** Loads a sequence classifier; a missing pooler / classifier starts random from `seed`. */
export function loadDebertaClassifier(dir: string, seed = 0): DebertaV2ForSequenceClassification {
  const ckpt = loadDebertaCheckpoint(dir);
  const hasHead = ckpt.vb.has("classifier.weight");
  const hasPooler = ckpt.vb.has("pooler.dense.weight");
  const vb = ckpt.vb.withRandomFor(seed, (name) => (name.startsWith("classifier.") && !hasHead) || (name.startsWith("pooler.") && !hasPooler));
  return new DebertaV2ForSequenceClassification(vb, classifierConfig(ckpt.config));
}

/** The config with architectures ["DebertaV2ForSequenceClassification"]. */
export function classifierConfig(config: DebertaV2Config): DebertaV2Config {
  const json = debertaV2ConfigToJson(config);
  json.architectures = ["DebertaV2ForSequenceClassification"];
  return parseDebertaV2Config(json, "<deberta classifier>");
}

/** Writes config.json and model.safetensors (each atomically) with the parameters under their HF names. */
export function saveDebertaCheckpoint(
  dir: string, config: DebertaV2Config, params: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {},
): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  for (const [name, t] of params) tensors.set(name, { shape: t.shape, data: t.data });
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", ...metadata });
  writeDebertaV2Config(join(dir, "config.json"), config);
}
