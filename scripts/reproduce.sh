#!/usr/bin/env bash
# Reference results on the standard world: generate it if needed, train each baseline on each
# split with the committed configs, submit, and write leaderboard/results/<split>/<name>.json.
#   SPLITS="temporal regime" DATA=data/standard bash scripts/reproduce.sh
# Budget configs (README "Reference results"): climatology.toml, gbm.toml, bayesian_quick.toml,
# unet_budget.toml. Runs go to runs/reference/<baseline>-<split>; REUSE_RUNS=1 rescores finished
# runs without retraining them; EXTRAS=1 adds the README's experiments.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/standard}
SPLITS=${SPLITS-temporal}   # SPLITS= (empty) runs no split, e.g. with EXTRAS=1
TS=.venv/bin/tailshift
[ -f "$DATA/manifest.json" ] || $TS data generate --preset standard --out "$DATA"
declare -A CONFIG=(
  [climatology]=climatology.toml [gbm]=gbm.toml [bayesian]=bayesian_quick.toml [unet]=unet_budget.toml
)
declare -A NAME=(
  [climatology]="Climatology" [gbm]="Gradient boosting" [bayesian]="Bayesian database (budget)"
  [unet]="Quantile U-Net (budget)"
)
# One run: train (or reuse with REUSE_RUNS=1), submit, log the timings.
#   run_one SPLIT BASELINE CONFIG RUN_NAME "Submission name"
run_one() {
  local split=$1 b=$2 config=$3 dir=$4 name=$5
  local run=runs/reference/$dir-$split start mid
  start=$(date +%s)
  if [ -n "${REUSE_RUNS:-}" ] && [ -f "$run/run.json" ]; then
    echo "reusing $run"   # REUSE_RUNS=1: score existing runs again without retraining
  else
    $TS --data "$DATA" train "$b" --split "$split" --config "baselines/configs/$config" --out "$run" --force
  fi
  mid=$(date +%s)
  $TS --data "$DATA" submit "$run" --name "$name" --results leaderboard/results --force \
    --description "reference baseline $b (config $config); train $((mid - start)) s"
  echo "$split $dir train_s=$((mid - start)) submit_s=$(( $(date +%s) - mid ))" | tee -a runs/reference/timings.txt
}
for split in $SPLITS; do
  for b in climatology bayesian gbm unet; do
    run_one "$split" "$b" "${CONFIG[$b]}" "$b" "${NAME[$b]}"
  done
done
# EXTRAS=1: the experiments of the README (full configs, tail loss, hybrid training on temporal;
# channel dropout on sensor).
if [ -n "${EXTRAS:-}" ]; then
  run_one temporal unet unet.toml unet-full "Quantile U-Net (full)"
  run_one temporal bayesian bayesian.toml bayesian-full "Bayesian database (full)"
  run_one temporal unet unet_twcrps_budget.toml unet-twcrps "Quantile U-Net twCRPS loss (budget)"
  run_one temporal unet unet_hybrid_budget.toml unet-hybrid "Quantile U-Net hybrid obs+sim (budget)"
  run_one sensor unet unet_dropout_budget.toml unet-dropout "Quantile U-Net channel dropout (budget)"
fi
$TS leaderboard build --results leaderboard/results --out leaderboard/site
