/**
 * The one loader of md2pr's JSON config files (pipeline and pretrain configs, `md2pr.json`, BERT `config.json`):
 * read the file (a UTF-8 BOM is accepted), parse the JSON (a syntax error names the file, line and column), and
 * validate it with a zod schema. Every problem is reported in one error whose lines name the source and the key
 * path, e.g. `config run.json: setting 'retriever.pooling': expected one of "cls", "mean", got "max"`.
 *
 * The schemas themselves live with what they describe (training/config-schema.ts for the pipeline and pretrain
 * configs, models/model-files.ts for model directories, models/config.ts for BERT's config.json).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

/** A config that is unreadable, not JSON, or fails its schema. The message is meant for the user as is. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Removes a leading UTF-8 byte order mark (U+FEFF), which editors on Windows write. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** "line L, column C" of a character offset in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`;
}

/** Parses JSON text; a syntax error names `source` and, where V8 reports it, the line and column. */
export function parseJsonText(text: string, source: string): unknown {
  const clean = stripBom(text);
  try {
    return JSON.parse(clean) as unknown;
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const where = pos ? ` at ${lineColumn(clean, Number(pos[1]))}` : "";
    const oneLine = msg.replace(/\s*\n\s*/g, " ");
    throw new ConfigError(`${source}: invalid JSON${where} (${oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine})`);
  }
}

/** Reads and parses a JSON file; errors name the file (`what` describes it, e.g. "config"). */
export function readJsonFile(file: string, what = "config"): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${what} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseJsonText(text, `${what} ${file}`);
}

function valueAt(obj: unknown, path: readonly (string | number)[]): unknown {
  let cur: unknown = obj;
  for (const key of path) cur = (cur as Record<string | number, unknown> | undefined)?.[key];
  return cur;
}

const shown = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

/** One issue as text: "setting 'a.b': must be >= 0, got -5" (or "unknown setting 'a.c'"). */
function describeIssue(issue: z.ZodIssue, input: unknown, label: (path: string) => string): string[] {
  const path = issue.path.join(".");
  const got = shown(valueAt(input, issue.path));
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => `unknown ${label(path ? `${path}.${k}` : k)}`);
    case "invalid_enum_value":
      return [`${label(path)}: expected one of ${issue.options.map((o) => JSON.stringify(o)).join(", ")}, got ${got}`];
    case "invalid_literal":
      return [`${label(path)}: must be ${JSON.stringify(issue.expected)}, got ${got}`];
    case "invalid_type":
      return [issue.received === "undefined" ? `${label(path)}: missing (expected a ${issue.expected})` : `${label(path)}: expected a ${issue.expected}, got ${got}`];
    case "too_small":
      if (issue.type === "array") return [`${label(path)}: needs at least ${String(issue.minimum)} entries, got ${got}`];
      return [`${label(path)}: must be ${issue.inclusive ? ">=" : ">"} ${String(issue.minimum)}, got ${got}`];
    case "too_big":
      return [`${label(path)}: must be ${issue.inclusive ? "<=" : "<"} ${String(issue.maximum)}, got ${got}`];
    case "not_finite":
      return [`${label(path)}: must be a finite number, got ${got}`];
    default:
      return [`${label(path)}: ${issue.message}${issue.code === "custom" ? "" : `, got ${got}`}`];
  }
}

export interface ValidateOptions {
  /** How a key path is named in messages (default "setting 'a.b'"; the CLI names the flag). */
  label?: (path: string) => string;
  /** Keys the schema does not know but the caller accepts (e.g. a field the defaults have); default none. */
  tolerateUnknown?: (path: readonly (string | number)[], key: string) => boolean;
}

const defaultLabel = (path: string): string => `setting '${path}'`;

/** The messages of `result`'s issues (empty when it passed), after dropping tolerated unknown keys. */
export function issueMessages(issues: readonly z.ZodIssue[], input: unknown, options: ValidateOptions = {}): string[] {
  const label = options.label ?? defaultLabel;
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys" && options.tolerateUnknown) {
      const keys = issue.keys.filter((k) => !options.tolerateUnknown!(issue.path, k));
      if (keys.length === 0) continue;
      out.push(...describeIssue({ ...issue, keys }, input, label));
    } else out.push(...describeIssue(issue, input, label));
  }
  return out;
}

/** Throws a ConfigError, on one line, naming `source` and listing every message, when there are any. */
export function throwIfIssues(messages: readonly string[], source: string): void {
  if (messages.length === 0) return;
  throw new ConfigError(`${source}: ${messages.join("; ")}`);
}

/**
 * Validates `value` with `schema`; throws a {@link ConfigError} naming `source` and every bad key path.
 * Returns the schema's output (or, with `tolerateUnknown`, the input itself so tolerated keys survive).
 */
export function validateConfig<S extends z.ZodTypeAny>(schema: S, value: unknown, source: string, options: ValidateOptions = {}): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.output<S>;
  const messages = issueMessages(result.error.issues, value, options);
  throwIfIssues(messages, source);
  return value as z.output<S>;
}

/** Reads a JSON file and validates it (see {@link validateConfig}); errors name the file. */
export function loadConfigFile<S extends z.ZodTypeAny>(schema: S, file: string, what = "config", options: ValidateOptions = {}): z.output<S> {
  return validateConfig(schema, readJsonFile(file, what), `${what} ${file}`, options);
}
