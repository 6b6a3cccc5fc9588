/** `md2pr report`: an HTML report with charts of a run directory's training logs and results (see src/report). */
import type { Command } from "commander";
import { writeReport } from "../../report/index.ts";
import { action, newCommand, requireDir, requireFile } from "../util.ts";

interface ReportCommandOptions {
  ablation?: string;
  out?: string;
}

export function reportCommand(): Command {
  const cmd = newCommand(
    "report",
    "Writes RUN_DIR/report/report.html, a self-contained page (inline SVG charts, no script, nothing fetched when " +
      "opened), and a PNG of every chart beside it: the test results of RUN_DIR/results.json; an ablation file " +
      "(results/ablation-scifact.json format) as a chart with error bars when given or present as RUN_DIR/ablation.json; " +
      "and per training stage (RUN_DIR/work/*/train-log.jsonl) every loss term, the learning rate, the masked-negative " +
      "fraction and threshold of the false-negative filter, gradient norm, throughput and the dev metrics over steps. " +
      "Prints the HTML file's path.",
    "md2pr report runs/demo --ablation results/ablation-scifact.json",
  );
  cmd
    .argument("<run-dir>", "run directory (of `md2pr demo` or `md2pr train`)")
    .option("--ablation <file>", "ablation results JSON (results/ablation-scifact.json format)")
    .option("--out <dir>", "output directory (default RUN_DIR/report)")
    .action(action("report", async (runDir: string) => {
      const o = cmd.opts<ReportCommandOptions>();
      requireDir(runDir, "run directory");
      if (o.ablation) requireFile(o.ablation, "ablation file");
      const result = await writeReport(runDir, { ablationFile: o.ablation ?? null, outDir: o.out });
      process.stderr.write(`report: ${result.charts} charts (PNG beside the HTML)\n`);
      process.stdout.write(`${result.html}\n`);
    }));
  return cmd;
}
