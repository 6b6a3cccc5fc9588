/**
 * An experiment of issue 8, shared by tools/dev-probe-ranker.ts and tools/teacher-fusion-probe.ts (`--pool mean`):
 * a cross-encoder head over the mean of the pair's states. Not a library option (HF's head reads [CLS]).
 */
import type { CrossEncoder } from "../src/models/cross-encoder.ts";
import { Tensor, add, dropout, linear, maskedMeanRows, reshape } from "../src/engine/index.ts";
import { activate } from "../src/nn/layers.ts";

/**
 * `--pool mean` (an experiment, not a library option): the classifier reads tanh(pooler(mean of the pair's states))
 * instead of HF's tanh(pooler([CLS] state)); MLM trains every token's state but not [CLS]'s.
 */
export function meanPooledHead(r: CrossEncoder): void {
  r.forward = (input, opts = {}) => {
    const out = r.bert.forward(input, { packed: true, ...opts });
    const head = activate(r.bert.pooler!.forward(maskedMeanRows(out.lastHidden, input.attentionMask, input.batch)), "tanh");
    const pooled = opts.training && opts.rng ? dropout(head, r.config.hiddenDropoutProb, true, opts.rng) : head;
    let scores = reshape(linear(pooled, r.classifier.weight, r.classifier.bias), [input.batch]);
    if (r.lexicalWeight) scores = add(scores, reshape(linear(new Tensor(opts.lexical!, [input.batch, 1]), reshape(r.lexicalWeight, [1, 1]), null), [input.batch]));
    return { scores, bert: out };
  };
}
