/** Entry point of the `md2pr` command line (bin/md2pr.js, or `node --import tsx src/cli/main.ts`). */
import { buildProgram } from "./program.ts";
import { reportError } from "./util.ts";

// A closed pipe on stdout (`md2pr eval ... | head`) ends the command quietly, as in other Unix tools.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  reportError("", err);
  process.exit(1);
});

try {
  const program = await buildProgram(process.argv.slice(2));
  await program.parseAsync(process.argv);
} catch (err) {
  reportError("", err);
}
