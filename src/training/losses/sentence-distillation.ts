/**
 * Sentence-level distillation (docs/method.md, loss 2): over each query's own candidates D(q) = {d+, d1-..dn-},
 *
 *   P_C = softmax(s_C(q, .) / T_C),  P_R = softmax(s_R(q, .) / T_R)
 *   L_sent = mean_q KL(P_C || P_R) = mean_q sum_d P_C(d) (log P_C(d) - log P_R(d))
 *
 * computed in log space (log-softmax on both sides, never the log of a softmax output). Filtered negatives stay.
 */
import { type Tensor, klDivergence, logSoftmax, scale, takeElements } from "../../engine/index.ts";

export interface SentenceDistillationOptions {
  /** Teacher temperature T_C (default 1). */
  teacherTemperature?: number;
  /** Student temperature T_R (default 1). */
  studentTemperature?: number;
}

/** teacherScores, studentScores: [B, n+1] (teacher usually without grad). */
export function sentenceDistillationLoss(teacherScores: Tensor, studentScores: Tensor, options: SentenceDistillationOptions = {}): Tensor {
  const tc = options.teacherTemperature ?? 1;
  const tr = options.studentTemperature ?? 1;
  const logPC = logSoftmax(tc === 1 ? teacherScores : scale(teacherScores, 1 / tc));
  const logPR = logSoftmax(tr === 1 ? studentScores : scale(studentScores, 1 / tr));
  return klDivergence(logPC, logPR);
}

/** The student's scores over each query's own candidates: the diagonal blocks of the [B, B*(n+1)] score matrix. */
export function ownCandidateScores(scores: Tensor, groupSize: number): Tensor {
  const batch = scores.dim(0);
  const cols = scores.dim(1);
  const idx = new Int32Array(batch * groupSize);
  for (let i = 0; i < batch; i++) for (let j = 0; j < groupSize; j++) idx[i * groupSize + j] = i * cols + i * groupSize + j;
  return takeElements(scores, idx, [batch, groupSize]);
}
