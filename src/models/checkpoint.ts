/**
 * HF-style model directories: `config.json` + `model.safetensors` (+ the tokenizer's `vocab.txt`, written by the
 * caller). Loading accepts a plain BertModel checkpoint or one whose names carry a `bert.` prefix.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "../engine/tensor.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { readBertConfig, writeBertConfig, type BertConfig } from "./config.ts";
import { loadSafetensorsFromDirectory, writeSafetensors, type TensorInput } from "./safetensors.ts";

export interface LoadedCheckpoint {
  config: BertConfig;
  /** A builder over the checkpoint's tensors; missing tensors and shape mismatches name the tensor and file. */
  vb: VarBuilder;
  metadata: Record<string, string>;
}

export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new Error(`${dir}: not a model directory (no config.json)`);
  const config = readBertConfig(configPath);
  const file = loadSafetensorsFromDirectory(dir);
  return { config, vb: VarBuilder.fromTensors(file.tensors, join(dir, "model.safetensors")), metadata: file.metadata };
}

/** Writes config.json and model.safetensors (each atomically) with the given parameters under their names. */
export function saveCheckpoint(
  dir: string, config: BertConfig, params: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {},
): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  for (const [name, t] of params) tensors.set(name, { shape: t.shape, data: t.data });
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", ...metadata });
  writeBertConfig(join(dir, "config.json"), config);
}
