/**
 * The schema (zod, through the one loader util/config-file.ts) of md2pr's own model file, `md2pr.json` of a retriever
 * folder: strict keys, enums, lengths >= 2. Fields missing in files of older versions take the defaults.
 */
import { z } from "zod";
import { loadConfigFile } from "../util/config-file.ts";

const length = z.number().int().min(2);

export const DualEncoderFileSchema = z.object({
  type: z.literal("dual-encoder"),
  shared: z.boolean().optional(),
  pooling: z.enum(["cls", "mean"]).optional(),
  similarity: z.enum(["dot", "cosine"]).optional(),
  maxQueryLength: length.optional(),
  maxPassageLength: length.optional(),
}).strict();
export type DualEncoderFile = z.infer<typeof DualEncoderFileSchema>;

/** Reads and validates `md2pr.json`; errors name the file and the key (e.g. `md2pr.json ...: setting 'pooling': ...`). */
export function readDualEncoderFile(file: string): DualEncoderFile {
  return loadConfigFile(DualEncoderFileSchema, file, "md2pr.json");
}
