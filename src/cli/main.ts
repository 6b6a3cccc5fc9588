/** Entry point of the `md2pr` command line (bin/md2pr.js, or `node --import tsx src/cli/main.ts`). */
import { buildProgram } from "./program.ts";
import { reportError } from "./util.ts";

try {
  const program = await buildProgram(process.argv.slice(2));
  await program.parseAsync(process.argv);
} catch (err) {
  reportError("", err);
}
