#!/bin/bash
# Issue 11 item 5 at REDUCED scale: a BERT and a DeBERTa-v3-style ranker of the same size (128 wide, 2 layers, 2 heads,
# 512 feed-forward), each MLM-pretrained 400 steps on SciFact, trained RANKER_STEPS (default 300) listwise steps, then teachers of the same
# BERT retriever (bert-small, 100 labelled steps, no self-supervised warm-up) at the sentence level and with full
# MD2PR; plus the contrastive-only student. Everything on the SciFact dev split (100 train queries held out, seed 0).
#   [RANKER_STEPS=300] tools/teacher-arch-scifact.sh [OUT_DIR]     (about 30 minutes on 2 busy cores, MD2PR_NUM_THREADS=1)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXP=$(mkdir -p "${1:-runs/teacher-arch}" && cd "${1:-runs/teacher-arch}" && pwd)
M="$ROOT/bin/md2pr.js"
DATA=${DATA:-$ROOT/data/scifact}
VOCAB=${VOCAB:-$ROOT/data/vocab/bert-base-uncased-vocab.txt}
export MD2PR_NUM_THREADS=${MD2PR_NUM_THREADS:-1}
SIZE="--hidden 128 --layers 2 --heads 2 --intermediate 512 --max-length 96 --batch-size 16 --checkpoint-every 100 --data $DATA --steps 400 --lr 1e-3 --warmup-steps 40 --seed 0"
[ -f "$EXP/deb-small/config.json" ] || node "$M" pretrain --arch deberta-v2 --spm-model "$ROOT/test/fixtures/spm-scifact/spm.model" --out "$EXP/deb-small" $SIZE &
[ -f "$EXP/bert-small/config.json" ] || node "$M" pretrain --vocab "$VOCAB" --out "$EXP/bert-small" $SIZE &
wait
COMMON="--data $DATA --base $EXP/bert-small --seed 0 --max-query-length 32 --max-passage-length 96 --max-pair-length 128 --ranker-steps ${RANKER_STEPS:-300} --ranker-batch-size 8 --ranker-negatives 7 --ranker-lr 1e-3 --ranker-warmup 10 --rerank-depth 20 --retriever-steps 100 --retriever-batch-size 16 --retriever-negatives 3 --retriever-lr 1e-3 --retriever-warmup 10 --self-supervised-steps 0 --checkpoint-every 50"
DEB="--ranker-arch deberta-v2 --ranker-base $EXP/deb-small"
node "$M" train-ranker $COMMON --out "$EXP/bert-t" > "$EXP/bert-t.log" 2>&1 &
node "$M" train-ranker $COMMON $DEB --out "$EXP/deb-t" > "$EXP/deb-t.log" 2>&1 &
wait
run() { # name, run folder with the teacher, flags
  local name=$1 t=$2; shift 2
  rm -rf "${EXP:?}/$name"; cp -r "$EXP/$t" "$EXP/$name"
  node "$M" train --stage retriever $COMMON "$@" --out "$EXP/$name" > "$EXP/$name.log" 2>&1
}
run bert-sent bert-t --beta 0 --no-filter & run deb-sent deb-t $DEB --beta 0 --no-filter & wait
run bert-full bert-t & run deb-full deb-t $DEB & wait
run contrastive bert-t --alpha 0 --beta 0 --no-filter
grep -h "dev" "$EXP"/*.log | grep -E "ranker|retriever:"
