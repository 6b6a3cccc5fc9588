/** Entry point of the `md2pr` command line (bin/md2pr.js, or `node --import tsx src/cli/main.ts`). */
import { buildProgram } from "./program.ts";
import { reportError } from "./util.ts";

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  reportError("", err);
}
