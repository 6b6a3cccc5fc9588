#!/usr/bin/python3
"""PyTorch peer for the md2pr benchmarks.

Usage (Debian system python, torch 1.13):

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_peer.py --task train-step|encode \
      --inputs <file.json> --repeats N --warmup W [--bf16] [--threads 2]

Inputs JSON (written by the TypeScript bench):
  {"config": {HF BertConfig fields}, "query": {"input_ids": [[..]], "attention_mask": [[..]]},
   "passage": {...}, "lr": 1e-4, "weight_decay": 0.01, "seed": 0}
ids are padded to a common T per side; token_type_ids are zeros.

Tasks (model = tools/torch_bert.py BertModel, shared encoder, CLS pooling = last_hidden[:, 0]):
  train-step  train mode (dropout as in config): forward queries and passages, scores = q p^T [Bq, Bp],
              cross entropy with the diagonal as targets, backward, AdamW step, zero_grad.
  encode      eval mode, torch.no_grad(): forward the passages, CLS vectors.
  --bf16      the forward (and loss) under torch.autocast("cpu", dtype=torch.bfloat16).

Everything (inputs, model, optimizer) is built before timing; only the steps are timed.
Prints one JSON line: {"task", "median_ms", "times_ms", "peak_rss_mb", "threads", "torch_version", "bf16", ...}.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from torch_bert import BertModel  # noqa: E402


def load_side(d):
    ids = torch.tensor(d["input_ids"], dtype=torch.long)
    mask = torch.tensor(d.get("attention_mask") or [[1] * ids.shape[1]] * ids.shape[0], dtype=torch.long)
    tt = torch.zeros_like(ids)
    return ids, mask, tt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True, choices=["train-step", "encode"])
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.inputs) as f:
        spec = json.load(f)
    torch.manual_seed(int(spec.get("seed", 0)))
    model = BertModel(spec["config"])
    p_ids, p_mask, p_tt = load_side(spec["passage"])
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)
    times = []

    if args.task == "train-step":
        q_ids, q_mask, q_tt = load_side(spec["query"])
        model.train()
        opt = torch.optim.AdamW(
            [p for n, p in model.named_parameters() if not n.startswith("pooler.")],
            lr=float(spec.get("lr", 1e-4)),
            weight_decay=float(spec.get("weight_decay", 0.01)),
        )
        targets = torch.arange(q_ids.shape[0])
        assert q_ids.shape[0] == p_ids.shape[0], "train-step expects as many passages as queries (diagonal targets)"

        def step():
            with amp:
                q = model(q_ids, q_mask, q_tt, compute_pooler=False).last_hidden_state[:, 0]
                p = model(p_ids, p_mask, p_tt, compute_pooler=False).last_hidden_state[:, 0]
                scores = q @ p.T
                loss = F.cross_entropy(scores.float(), targets)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss.item()

    else:
        model.eval()

        def step():
            with torch.no_grad(), amp:
                v = model(p_ids, p_mask, p_tt, compute_pooler=False).last_hidden_state[:, 0]
            return float(v.float()[0, 0])

    last = None
    for _ in range(args.warmup):
        last = step()
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        last = step()
        times.append((time.perf_counter() - t0) * 1000.0)

    res = {
        "task": args.task,
        "median_ms": statistics.median(times) if times else None,
        "times_ms": [round(t, 3) for t in times],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "bf16": bool(args.bf16),
        "batch": list(p_ids.shape) if args.task == "encode" else [list(q_ids.shape), list(p_ids.shape)],
        "last_value": last,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
