/**
 * Shared plumbing of the md2pr commands: commander commands that report errors as `md2pr <command>: <message>`
 * on stderr with exit code 1 (a stack trace only with MD2PR_DEBUG=1), argument parsers, file checks, tables.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";

/** An error whose message is meant for the user as is. */
export class CliError extends Error {}

const debug = (): boolean => process.env.MD2PR_DEBUG === "1";

/** Writes `md2pr <command>: <message>` on stderr (and the stack with MD2PR_DEBUG=1) and sets exit code 1. */
export function reportError(command: string, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${command ? `md2pr ${command}` : "md2pr"}: ${message}\n`);
  if (debug() && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}

/** A subcommand (its one-line summary is set by program.ts) whose parse errors (unknown option, missing value) are reported as `md2pr <name>: ...`. */
export function newCommand(name: string, description: string, example: string): Command {
  const cmd = new Command(name);
  cmd
    .description(description)
    .addHelpText("after", `\nExample:\n  ${example}\n`)
    .showHelpAfterError("(run with --help for the options)")
    .configureOutput({
      outputError: (str, write) => write(`md2pr ${name}: ${str.replace(/^error: /, "")}`),
    });
  return cmd;
}

/** Wraps a command action: any error is reported on stderr (see {@link reportError}) and the exit code set to 1. */
export function action<A extends unknown[]>(name: string, fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(name, err);
    }
  };
}

export function parseIntArg(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${value}'`);
  return n;
}

export function parsePositiveIntArg(value: string): number {
  const n = parseIntArg(value);
  if (n <= 0) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

/** A length in word pieces: an integer >= 2 ([CLS] and [SEP] at least). */
export function parseLengthArg(value: string): number {
  const n = parseIntArg(value);
  if (n < 2) throw new InvalidArgumentError(`expected a length of at least 2 word pieces, got '${value}'`);
  return n;
}

export function parseFloatArg(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

/** Throws a CliError unless `file` is an existing regular file. */
export function requireFile(file: string, what: string): void {
  if (!existsSync(file)) throw new CliError(`${what} not found: ${file}`);
  if (!statSync(file).isFile()) throw new CliError(`${what} is not a file: ${file}`);
}

/** Throws a CliError unless `dir` is an existing directory. */
export function requireDir(dir: string, what: string): void {
  if (!existsSync(dir)) throw new CliError(`${what} not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new CliError(`${what} is not a directory: ${dir}`);
}

/** Status lines go to stderr (stdout carries results). */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A plain text table, columns padded; numbers are printed with `digits` decimals and right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[], digits = 4): string {
  const cells = [header.map(String), ...rows.map((r) => r.map((c) => (typeof c === "number" ? c.toFixed(digits) : c)))];
  const numeric = header.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === "number"));
  const widths = header.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? "").length)));
  const line = (r: readonly string[]): string =>
    r.map((c, j) => (numeric[j] ? c.padStart(widths[j]!) : c.padEnd(widths[j]!))).join("  ").trimEnd();
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n") + "\n";
}

/** The package version (package.json next to src/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}
