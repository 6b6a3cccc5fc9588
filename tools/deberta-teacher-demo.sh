#!/bin/bash
# Issue 11 at the demo's sizes: the demo's pipeline (same data, lengths, steps, batch sizes, retriever base) with a
# DeBERTa-v3-style ranker as the MD2PR teacher instead of the BERT one, timed. The DeBERTa base is MLM-pretrained like
# models/base-scifact (128 wide, 4 layers, 2 heads, FFN 512, 700 steps of 32 x 128 pieces, lr 1e-3) on SentencePiece
# ids from test/fixtures/spm-scifact/spm.model (4,000 pieces trained on SciFact).
#   tools/deberta-teacher-demo.sh [OUT_DIR]     (DeBERTa base into runs/bases/deb-demo unless it exists)
# Compare with `npx md2pr demo` (the BERT teacher): OUT_DIR/results.json, the dev lines of OUT_DIR/train.log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-runs/deberta-teacher-demo}
DEB=${DEB:-runs/bases/deb-demo}
M="$ROOT/bin/md2pr.js"
if [ ! -f "$DEB/config.json" ]; then
  MD2PR_NUM_THREADS=${MD2PR_NUM_THREADS:-1} node "$M" pretrain --arch deberta-v2 --spm-model "$ROOT/test/fixtures/spm-scifact/spm.model" \
    --data "$ROOT/data/scifact" --out "$DEB" --hidden 128 --layers 4 --heads 2 --intermediate 512 --steps 700 \
    --warmup-steps 100 --lr 1e-3 --batch-size 32 --max-length 128 --seed 0
fi
mkdir -p "$(dirname "$OUT")"
# the demo's settings (src/cli/demo.ts DEMO_OVERRIDES; `md2pr train --print-config` equals the demo's but for the ranker)
/usr/bin/time -v node "$M" train --data "$ROOT/data/scifact" --out "$OUT" --base "$ROOT/models/base-scifact-cpt" \
  --ranker-arch deberta-v2 --ranker-base "$DEB" --seed 0 \
  --max-query-length 32 --max-passage-length 96 --max-pair-length 128 \
  --ranker-steps 300 --ranker-batch-size 8 --ranker-negatives 7 --ranker-lr 1e-3 --ranker-warmup 30 \
  --retriever-steps 500 --retriever-batch-size 16 --retriever-negatives 3 --retriever-lr 1e-3 --retriever-warmup 50 \
  --self-supervised-steps 0 --rerank-depth 20 --checkpoint-every 20 2>&1 | tee "$OUT.log"
