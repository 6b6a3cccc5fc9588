/**
 * md2pr as an installed package: `npm pack` of a copy of the sources (which builds dist/ through `prepare`), the
 * tarball installed into a fresh temporary project (`npm install`, registry reachable, cache preferred), then with
 * plain `node` (no tsx):
 * the README's library example as written, on toy models this test saves where the example loads them; the
 * `md2pr` bin; and a TypeScript consumer type-checked against the shipped .d.ts (strict, NodeNext).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Ranker, Retriever } from "../../src/index.ts";
import { toyModels, toySet } from "../helpers/toy.ts";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** The code block after the `library-example` marker in the README. */
export function readmeExample(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const m = /<!-- library-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error("README.md: no ```js block after <!-- library-example -->");
  return m[1]!;
}

describe("the packed tarball in a fresh project", { timeout: 900_000 }, () => {
  let tmp: string;
  let project: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "md2pr-pack-"));
    project = join(tmp, "consumer");
    mkdirSync(project);
    const env = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };
    // Packed from a copy of the sources, so that its build (`prepare` -> dist/) never rewrites the checkout's dist/
    // under other tests that run bin/md2pr.js; the copy borrows the checkout's node_modules (tsc).
    const source = join(tmp, "source");
    for (const path of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", "src", "bin", "native/binding.gyp", "native/src", "scripts", "docs"]) {
      cpSync(join(root, path), join(source, path), { recursive: true });
    }
    symlinkSync(join(root, "node_modules"), join(source, "node_modules"), "dir");
    await run(npm, ["pack", "--pack-destination", tmp], { cwd: source, env, maxBuffer: 1 << 26 });
    const tarball = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote a tarball");
    writeFileSync(join(project, "package.json"), JSON.stringify({
      name: "md2pr-consumer", private: true, type: "module", dependencies: { md2pr: `file:../${tarball}` },
    }, null, 2));
    await run(npm, ["install", "--prefer-offline", "--no-package-lock"], { cwd: project, env, maxBuffer: 1 << 26 });
    // The models the README example loads: a toy retriever and ranker, each saved with its tokenizer.
    const toy = await toySet();
    const models = toyModels(toy, 5);
    new Retriever(models.retriever, toy.tokenizer).save(join(project, "models", "retriever"));
    models.ranker.save(join(project, "models", "ranker"));
    toy.tokenizer.save(join(project, "models", "ranker"));
    Ranker.load(join(project, "models", "ranker"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("ships compiled JavaScript, types and the native sources, not the TypeScript sources or tests", () => {
    const pkg = join(project, "node_modules", "md2pr");
    const files = readdirSync(pkg);
    for (const f of ["dist", "bin", "native", "scripts", "package.json", "README.md"]) assert.ok(files.includes(f), `${f} is in the package`);
    for (const f of ["src", "test", "bench", "runs", "models", "node_modules"].filter((f) => f !== "node_modules")) assert.ok(!files.includes(f), `${f} is not`);
    assert.ok(readdirSync(join(pkg, "dist")).includes("index.d.ts"));
    assert.ok(readdirSync(join(pkg, "native", "src")).includes("gemm.cc"));
    assert.ok(readdirSync(join(pkg, "dist", "server", "page")).includes("index.html"), "the search page's files are copied beside the compiled server");
  });

  it("runs the README example with plain node", async () => {
    writeFileSync(join(project, "example.mjs"), readmeExample());
    const { stdout, stderr } = await run(process.execPath, ["example.mjs"], { cwd: project, env: { ...process.env, NODE_OPTIONS: "" } });
    const lines = stdout.trim().split("\n");
    // vector.length, then the two hits with rank, id, title and text from the LanceDB table
    assert.match(lines[0]!, /^16 \[/, `stdout: ${stdout}\nstderr: ${stderr}`);
    const hits = [...stdout.matchAll(/'([12])\. (d[123]) ([^:']+): ([^']+)'/g)];
    assert.deepEqual(hits.map((h) => h[1]), ["1", "2"]);
    const corpus: Record<string, string> = { d1: "Vitamin D", d2: "Sleep", d3: "Gut bacteria" };
    for (const h of hits) assert.equal(h[3], corpus[h[2]!]);
    assert.match(stdout, /'ndcg@10': [01](\.\d+)?/);
    assert.doesNotMatch(stderr, /tsx|TypeScript kernels/, "no tsx and native kernels built on install");
  });

  it("runs the md2pr bin from the package's dist/", async () => {
    const { stdout } = await run(process.execPath, [join(project, "node_modules", ".bin", "md2pr"), "--version"], { cwd: project });
    assert.equal(stdout.trim(), JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
  });

  it("type-checks a TypeScript consumer against the shipped declarations", async () => {
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ["consumer.ts"],
    }));
    writeFileSync(join(project, "consumer.ts"), [
      'import { Retriever, Searcher, evaluate, type SearchResult, type Evaluation } from "md2pr";',
      'const retriever: Retriever = Retriever.load("models/retriever");',
      'const vectors: Float32Array[] = retriever.encode(["a query"], { side: "query", batchSize: 8 });',
      'const searcher = await Searcher.open({ retriever, index: "indexes/lance" });',
      'const hits: SearchResult[] = await searcher.search("a query", { k: 3, mode: "dense" });',
      'const title: string | undefined = hits[0]?.title;',
      'const e: Evaluation = evaluate(new Map([["q", hits]]), new Map([["q", new Map([["d1", 1]])]]));',
      '// @ts-expect-error: side is "query" or "passage"',
      'retriever.encode(["x"], { side: "document" });',
      '// @ts-expect-error: search takes a string',
      'await searcher.search(42);',
      "export { vectors, title, e };",
    ].join("\n"));
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    try {
      await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      assert.fail(`tsc found errors:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
  });
});
