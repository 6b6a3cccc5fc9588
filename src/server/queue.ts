/**
 * The service's one work queue: every request that needs the models (search, embed, rerank) waits here, and the
 * jobs run one batch at a time (the models run on the event loop's thread). Jobs with the same key that are
 * waiting together run as one batch (for search: one encoder forward pass and one index scan for all their
 * queries). The queue is bounded: a job submitted while `maxPending` jobs wait is refused with a
 * {@link ServiceBusyError} (the HTTP layer answers 503 with Retry-After) instead of piling up without limit.
 */

/** Runs the payloads of one batch; returns one result per payload, in order. */
export type BatchRunner<P, R> = (payloads: P[]) => Promise<R[]> | R[];

export class ServiceBusyError extends Error {
  constructor(readonly pending: number) {
    super(`the server is at capacity (${pending} requests waiting); retry shortly`);
  }
}

interface Job {
  key: string;
  payload: unknown;
  runner: BatchRunner<unknown, unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface WorkQueueOptions {
  /** Jobs allowed to wait (not counting the batch running); more are refused. */
  maxPending: number;
  /** Most jobs in one batch (1: no batching). */
  maxBatch: number;
}

export interface WorkQueueStats {
  pending: number;
  running: number;
  batches: number;
  jobs: number;
  refused: number;
  largestBatch: number;
}

export class WorkQueue {
  private readonly pending: Job[] = [];
  private draining = false;
  private runningJobs = 0;
  private readonly counters = { batches: 0, jobs: 0, refused: 0, largestBatch: 0 };

  constructor(readonly options: WorkQueueOptions) {
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) throw new Error(`WorkQueue: maxPending must be a positive integer, got ${options.maxPending}`);
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new Error(`WorkQueue: maxBatch must be a positive integer, got ${options.maxBatch}`);
  }

  /** Queues one job; jobs of the same `key` may run in one call of `runner`. */
  submit<P, R>(key: string, payload: P, runner: BatchRunner<P, R>): Promise<R> {
    if (this.pending.length >= this.options.maxPending) {
      this.counters.refused++;
      return Promise.reject(new ServiceBusyError(this.pending.length));
    }
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ key, payload, runner: runner as BatchRunner<unknown, unknown>, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  get stats(): WorkQueueStats {
    return { pending: this.pending.length, running: this.runningJobs, ...this.counters };
  }

  /** Resolves once nothing waits or runs. */
  async idle(): Promise<void> {
    while (this.draining || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private schedule(): void {
    if (this.draining) return;
    this.draining = true;
    // setImmediate: requests that arrived in the same turn of the event loop are queued before the batch is taken.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    const batch = this.takeBatch();
    this.runningJobs = batch.length;
    this.counters.batches++;
    this.counters.jobs += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    try {
      const results = await batch[0]!.runner(batch.map((j) => j.payload));
      if (results.length !== batch.length) throw new Error(`WorkQueue: a batch of ${batch.length} jobs returned ${results.length} results`);
      batch.forEach((j, i) => j.resolve(results[i]));
    } catch (err) {
      batch.forEach((j) => j.reject(err));
    }
    this.runningJobs = 0;
    this.draining = false;
    if (this.pending.length > 0) this.schedule();
  }

  /** The oldest job and up to maxBatch - 1 later jobs with its key (the rest keep their order). */
  private takeBatch(): Job[] {
    const first = this.pending.shift()!;
    const batch = [first];
    for (let i = 0; i < this.pending.length && batch.length < this.options.maxBatch;) {
      if (this.pending[i]!.key === first.key) batch.push(this.pending.splice(i, 1)[0]!);
      else i++;
    }
    return batch;
  }
}
