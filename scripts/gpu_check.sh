#!/usr/bin/env bash
# CUDA checks and timings on a GPU machine (README "Performance" / "GPU").
#   bash scripts/gpu_check.sh check       # CUDA tests + U-Net benchmarks on cuda (~2 min)
#   bash scripts/gpu_check.sh reference   # standard world, unet.toml on temporal with --device cuda,
#                                         # submit --device cuda (~5 min on one H100/H200)
# Outputs go to $OUT (default gpu-out/). Uses the python3 on PATH (PY=... to change it); wheels
# in .whl/ (if any) are installed to /tmp/site first, for machines without a package index.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
TS="$PY -m tailshift.app.cli"
stamp() { date +%s; }

case "${1:-check}" in
  check)
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
      nproc
      $PY -c "import torch, numpy, xarray, zarr; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'numpy', numpy.__version__, 'xarray', xarray.__version__, 'zarr', zarr.__version__)"
    } 2>&1 | tee "$OUT/env.txt"
    # the CUDA tests (skipped on CPU machines): fp16 training, CUDA inference equal to CPU, device option
    $PY -m pytest -q -p no:randomly tests/baselines/test_unet.py tests/test_submission.py \
      -k "cuda or device" 2>&1 | tee "$OUT/tests.txt"
    TAILSHIFT_BENCH_DEVICE=cuda $PY -m pytest bench/bench_unet.py -q -p no:randomly \
      --benchmark-only --benchmark-json="$OUT/bench_unet_cuda.json" --benchmark-columns=mean,min,rounds \
      2>&1 | tee "$OUT/bench.txt"
    ;;
  reference)
    DATA=${DATA:-/tmp/std}
    CONFIG=${CONFIG:-baselines/configs/unet.toml}
    RUN=${RUN:-/tmp/runs/unet-temporal}
    t0=$(stamp)
    [ -f "$DATA/manifest.json" ] || $TS data generate --preset standard --out "$DATA" --workers "$(nproc)" || exit 1
    t1=$(stamp)
    grep -o '"dataset_checksum": "[0-9a-f]*"' "$DATA/manifest.json" | tee "$OUT/checksum.txt"
    $TS --data "$DATA" train unet --split temporal --config "$CONFIG" --device cuda --out "$RUN" --force || exit 1
    t2=$(stamp)
    cp "$RUN/run.json" "$RUN/history.json" "$RUN/model.pt" "$OUT/"
    $TS --data "$DATA" submit "$RUN" --name "${NAME:-Quantile U-Net (full, CUDA)}" --results "$OUT/results" \
      --device cuda --force --description "reference baseline unet (config $(basename "$CONFIG")), trained with --device cuda; train $((t2 - t1)) s" \
      || exit 1
    t3=$(stamp)
    echo "generate_s=$((t1 - t0)) train_s=$((t2 - t1)) submit_s=$((t3 - t2))" | tee "$OUT/timings.txt"
    ;;
  *) echo "usage: $0 check|reference" >&2; exit 2 ;;
esac
