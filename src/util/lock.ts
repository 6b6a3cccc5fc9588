/**
 * One writer per output: a lock file next to the output (`<parent>/.<name>.md2pr-lock`) holds the owner's pid, host,
 * command and start time. A second writer is refused with a message naming the owner; a lock whose process is gone
 * (killed, crashed) is taken over. The lock is released when the process exits (or by {@link OutputLock.release}).
 *
 * Locks are advisory and local to one machine (the pid is checked on this host only; a lock from another host is
 * honoured until removed by hand).
 */
import * as fs from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { processAlive } from "./atomic.ts";

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** Raised when another live process holds the lock; the message says who. */
export class LockedError extends Error {
  override readonly name = "LockedError";
  constructor(readonly target: string, readonly owner: LockOwner | null) {
    super(
      owner
        ? `${target} is being written by another md2pr process (pid ${owner.pid} on ${owner.host}, since ${owner.since}: ${owner.command}); ` +
            "wait for it to finish or stop it, then rerun"
        : `${target} is locked by another md2pr process (unreadable lock file ${lockPathFor(target)})`,
    );
  }
}

/** The lock file of an output path. */
export function lockPathFor(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.md2pr-lock`);
}

function readOwner(file: string): LockOwner | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LockOwner>;
    return typeof v.pid === "number" ? { pid: v.pid, host: String(v.host ?? "?"), command: String(v.command ?? "?"), since: String(v.since ?? "?") } : null;
  } catch {
    return null;
  }
}

export interface OutputLock {
  readonly file: string;
  /** Whether a stale lock of a dead process was taken over. */
  readonly tookOver: LockOwner | null;
  release(): void;
}

const held = new Map<string, OutputLock>();

function tryCreate(file: string, me: LockOwner): boolean {
  try {
    fs.writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Takes the lock of `target` for this process (re-entrant within the process). Throws {@link LockedError} when a
 * live process holds it; takes over a lock whose owner is gone.
 */
export function acquireOutputLock(target: string): OutputLock {
  const file = lockPathFor(target);
  const existing = held.get(file);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: LockOwner = { pid: process.pid, host: hostname(), command: process.argv.slice(1).join(" "), since: new Date().toISOString() };
  let tookOver: LockOwner | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, me)) {
      const release = (): void => {
        process.off("exit", release);
        held.delete(file);
        if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
      };
      const lock: OutputLock = { file, tookOver, release };
      held.set(file, lock);
      process.once("exit", release);
      return lock;
    }
    const owner = readOwner(file);
    const sameHost = owner !== null && owner.host === me.host;
    if (owner === null || !sameHost || processAlive(owner.pid)) {
      // An unreadable lock may be one being written this instant; look once more before refusing.
      if (owner === null && attempt === 0) continue;
      throw new LockedError(target, owner);
    }
    // Stale: move it aside under a name only one taker can win, then check it is the lock we judged stale.
    const aside = `${file}.stale-${process.pid}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue;
    }
    const moved = readOwner(aside);
    if (moved?.pid !== owner.pid) {
      try { fs.renameSync(aside, file); } catch { /* the new owner's lock is back or gone; retry */ }
      continue;
    }
    fs.rmSync(aside, { force: true });
    tookOver = owner;
  }
  throw new LockedError(target, readOwner(file));
}
