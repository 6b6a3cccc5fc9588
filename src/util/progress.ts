/**
 * Progress for long work: a cli-progress bar (rate and ETA) on a terminal; on a pipe or in CI, one plain line
 * every `everySeconds` with the same facts, so logs stay readable.
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export function startProgress(label: string, total: number, startAt = 0, unit = "it", everySeconds = 10): Progress {
  if (process.stderr.isTTY && process.env.CI !== "true") {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} {info}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    const t0 = Date.now();
    bar.start(total, startAt, { rate: "-", info: "" });
    return {
      update(done, fields = {}) {
        const secs = (Date.now() - t0) / 1000;
        const rate = secs > 0 ? ((done - startAt) / secs).toFixed(2) : "-";
        bar.update(done, { rate, info: formatFields(fields) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const t0 = Date.now();
  let last = 0;
  return {
    update(done, fields = {}) {
      const now = Date.now();
      if (now - last < everySeconds * 1000 && done < total) return;
      last = now;
      const secs = (now - t0) / 1000;
      const rate = secs > 0 ? (done - startAt) / secs : 0;
      const eta = rate > 0 ? (total - done) / rate : 0;
      process.stderr.write(`${label}: ${done}/${total} ${unit} | ${rate.toFixed(2)} ${unit}/s | ETA ${formatSeconds(eta)} ${formatFields(fields)}\n`);
    },
    stop() {},
  };
}

function formatFields(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(4)) : v}`)
    .join(" | ");
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
