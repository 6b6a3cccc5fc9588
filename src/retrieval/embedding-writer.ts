/**
 * Resumable writer of a dense index directory (format: dense-format.ts): an interrupted encode resumes from the
 * last durable chunk.
 */
import { promises as fsp, existsSync } from "node:fs";
import * as path from "node:path";
import {
  checkIds, EMB_FILE, IDS_FILE, makeMeta, META_FILE, PROGRESS_FILE, type DenseIndexInfo, type DenseIndexMeta,
} from "./dense-format.ts";
import { atomicWriteFile, typedBytes } from "./fs-util.ts";

interface Progress extends DenseIndexInfo {
  format: "md2pr-dense-progress";
  dim: number;
  rowsDone: number;
  idsBytes: number;
}

/**
 * Appends embedding chunks to an index directory so that an interrupted encode resumes from the last
 * complete chunk. Each `append` writes the rows and ids, fsyncs them, then atomically rewrites
 * `progress.json` ({rowsDone, idsBytes}); `open` on a directory with progress truncates the partial files
 * to the recorded sizes (dropping a half-written chunk) and continues. `finish` renames the files and
 * writes `index.json`. Re-opening with a different model fingerprint or dim is refused.
 *
 *   const w = await EmbeddingWriter.open(dir, { dim, modelFingerprint, pooling: "cls", normalized: true });
 *   for (let start = w.rowsDone; start < docs.length; start += 256) await w.append(ids, encode(...));
 *   await w.finish();
 */
export class EmbeddingWriter {
  readonly dir: string;
  readonly dim: number;
  readonly info: DenseIndexInfo;
  private progress: Progress;
  private emb: fsp.FileHandle | null;
  private idsFh: fsp.FileHandle | null;

  private constructor(dir: string, progress: Progress, emb: fsp.FileHandle, idsFh: fsp.FileHandle) {
    this.dir = dir;
    this.dim = progress.dim;
    this.info = { modelFingerprint: progress.modelFingerprint, pooling: progress.pooling, normalized: progress.normalized };
    this.progress = progress;
    this.emb = emb;
    this.idsFh = idsFh;
  }

  /** Rows safely written so far (where a resumed encode starts). */
  get rowsDone(): number {
    return this.progress.rowsDone;
  }

  /** True when `dir` holds a finished index (index.json present). */
  static isComplete(dir: string): boolean {
    return existsSync(path.join(dir, META_FILE));
  }

  static async open(dir: string, opts: DenseIndexInfo & { dim: number }): Promise<EmbeddingWriter> {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new Error(`EmbeddingWriter: bad dim ${opts.dim}`);
    await fsp.mkdir(dir, { recursive: true });
    if (EmbeddingWriter.isComplete(dir)) {
      throw new Error(`${dir}: already holds a finished dense index (${META_FILE}); remove it to re-encode`);
    }
    const embPart = path.join(dir, EMB_FILE + ".partial");
    const idsPart = path.join(dir, IDS_FILE + ".partial");
    const progFile = path.join(dir, PROGRESS_FILE);
    let progress: Progress;
    if (existsSync(progFile)) {
      progress = JSON.parse(await fsp.readFile(progFile, "utf8")) as Progress;
      if (progress.format !== "md2pr-dense-progress") throw new Error(`${progFile}: not an encode progress file`);
      if (progress.modelFingerprint !== opts.modelFingerprint || progress.dim !== opts.dim ||
          progress.pooling !== opts.pooling || progress.normalized !== opts.normalized) {
        throw new Error(
          `${dir}: an interrupted encode exists for model "${progress.modelFingerprint}" (dim ${progress.dim}, ${progress.pooling}, ` +
            `normalized=${progress.normalized}); refusing to resume with "${opts.modelFingerprint}" (dim ${opts.dim}, ${opts.pooling}, ` +
            `normalized=${opts.normalized}). Remove the directory to start over.`,
        );
      }
      // a crash during finish() may have renamed the data files already
      for (const [part, fin] of [[embPart, path.join(dir, EMB_FILE)], [idsPart, path.join(dir, IDS_FILE)]] as const) {
        if (!existsSync(part) && existsSync(fin)) await fsp.rename(fin, part);
        if (!existsSync(part)) await fsp.writeFile(part, "");
      }
      const needEmb = progress.rowsDone * progress.dim * 4;
      const embSize = (await fsp.stat(embPart)).size;
      const idsSize = (await fsp.stat(idsPart)).size;
      if (embSize < needEmb || idsSize < progress.idsBytes) {
        throw new Error(`${dir}: partial files are shorter than progress.json records (${embSize} < ${needEmb} or ${idsSize} < ${progress.idsBytes}); the directory is corrupt`);
      }
      await fsp.truncate(embPart, needEmb);
      await fsp.truncate(idsPart, progress.idsBytes);
    } else {
      progress = {
        format: "md2pr-dense-progress", dim: opts.dim, rowsDone: 0, idsBytes: 0,
        modelFingerprint: opts.modelFingerprint, pooling: opts.pooling, normalized: opts.normalized,
      };
      await fsp.writeFile(embPart, "");
      await fsp.writeFile(idsPart, "");
      await atomicWriteFile(progFile, JSON.stringify(progress) + "\n");
    }
    const emb = await fsp.open(embPart, "r+");
    const idsFh = await fsp.open(idsPart, "r+");
    return new EmbeddingWriter(dir, progress, emb, idsFh);
  }

  /** Appends `ids.length` rows (`rows` is [ids.length, dim]); durable once the promise resolves. */
  async append(ids: readonly string[], rows: Float32Array): Promise<void> {
    if (!this.emb || !this.idsFh) throw new Error("EmbeddingWriter: already finished or closed");
    if (rows.length !== ids.length * this.dim) {
      throw new Error(`EmbeddingWriter.append: ${rows.length} values for ${ids.length} ids x dim ${this.dim}`);
    }
    checkIds(ids);
    if (ids.length === 0) return;
    const bytes = typedBytes(rows);
    const idBytes = Buffer.from(ids.join("\n") + "\n", "utf8");
    const embOff = this.progress.rowsDone * this.dim * 4;
    await this.emb.write(bytes, 0, bytes.byteLength, embOff);
    await this.idsFh.write(idBytes, 0, idBytes.byteLength, this.progress.idsBytes);
    await this.emb.datasync();
    await this.idsFh.datasync();
    this.progress = { ...this.progress, rowsDone: this.progress.rowsDone + ids.length, idsBytes: this.progress.idsBytes + idBytes.byteLength };
    await atomicWriteFile(path.join(this.dir, PROGRESS_FILE), JSON.stringify(this.progress) + "\n");
  }

  /** Completes the index: renames the data files, writes index.json, removes progress.json. */
  async finish(): Promise<DenseIndexMeta> {
    await this.close();
    const dir = this.dir;
    await fsp.rename(path.join(dir, EMB_FILE + ".partial"), path.join(dir, EMB_FILE));
    await fsp.rename(path.join(dir, IDS_FILE + ".partial"), path.join(dir, IDS_FILE));
    const meta = makeMeta(this.progress.rowsDone, this.dim, this.info);
    await atomicWriteFile(path.join(dir, META_FILE), JSON.stringify(meta, null, 2) + "\n");
    await fsp.rm(path.join(dir, PROGRESS_FILE), { force: true });
    return meta;
  }

  /** Closes the files without finishing (the encode can be resumed later with `open`). */
  async close(): Promise<void> {
    const e = this.emb;
    const i = this.idsFh;
    this.emb = null;
    this.idsFh = null;
    if (e) await e.close();
    if (i) await i.close();
  }
}
