#!/usr/bin/env bash
# The GPU bench of issue #13, under 8 minutes on one GPU:
#   1. every preset trains EPOCHS (default 3) epochs with --device cuda;
#   2. `latentlab report --profile full` end to end, on cuda;
#   3. the one-class benchmark on Fashion-MNIST (every class), on cuda.
# Mixed precision: the engine itself runs its training steps under bf16 autocast whenever the device is cuda
# (training/fit.py); the config has no switch for it, so there is nothing to pass. bench/run.py's throughput
# section is not run here: bench_config pins the CPU and the canonical loop has no device (its CPU numbers are
# in bench/results.json); step 1's img/s (each run's last history line, in gpu-train-speed.txt) is the
# engine's GPU throughput.
#
# Data: Fashion-MNIST, MNIST and CIFAR-10 are used where they are on the machine (LATENTLAB_DATA, the cache or
# /usr/share/datasets); nothing is downloaded (the GPU machine may have no network). A preset whose data set is
# missing trains on its stand-in (the bundled sample, or photo-tiles for CIFAR-10), and its log says so.
#
#   bench/gpu.sh             # needs a CUDA device; fails at once, saying so, without one
#   bench/gpu.sh --dry-run   # print the commands only (no GPU needed)
# Results go to $OUT if set (else bench/gpu-results/): one log per step, gpu-times.tsv (step, seconds, exit
# code), gpu-machine.txt, the report's metrics.json and the benchmark's JSON.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
read -ra PY <<< "${PYTHON:-python}"  # may be a command with arguments, e.g. "env PYTHONPATH=src python"
EPOCHS=${EPOCHS:-3}
DEST=${OUT:-$ROOT/bench/gpu-results}
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: bench/gpu.sh [--dry-run]   (EPOCHS=N, OUT=DIR and PYTHON=... in the environment)" >&2; exit 2 ;;
esac
# Budget per step, so that the whole run stays under 8 minutes even if one step hangs.
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-40}
REPORT_TIMEOUT=${REPORT_TIMEOUT:-240}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}

if ((DRY == 0)); then
  if ! "${PY[@]}" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "bench/gpu.sh: no CUDA device here (torch.cuda.is_available() is False with ${PY[*]}); run it on a GPU" \
         "machine, or bench/gpu.sh --dry-run to see the commands" >&2
    exit 3
  fi
  mkdir -p "$DEST"
  "${PY[@]}" - > "$DEST/gpu-machine.txt" <<'EOF'
import os, platform, torch
p = torch.cuda.get_device_properties(0)
print(f"gpu: {p.name}, {p.total_memory / 2**30:.0f} GiB, x{torch.cuda.device_count()}; torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}")
print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}")
EOF
  cat "$DEST/gpu-machine.txt"
  printf 'step\tseconds\texit\n' > "$DEST/gpu-times.tsv"
fi

# step NAME TIMEOUT COMMAND...: print the command; unless dry, run it with its log and time in $DEST.
step() {
  local name=$1 limit=$2
  shift 2
  echo "+ timeout $limit $*"
  ((DRY)) && return 0
  local t0 t1 code=0
  t0=$(date +%s%N)
  timeout "$limit" "$@" > "$DEST/$name.log" 2>&1 || code=$?
  t1=$(date +%s%N)
  printf '%s\t%d.%d\t%s\n' "$name" $(((t1 - t0) / 10**9)) $(((t1 - t0) / 10**8 % 10)) "$code" \
    | tee -a "$DEST/gpu-times.tsv"
}

# preset -> the data set it trains on here: its own when on disk, else its offline stand-in.
mapfile -t PLAN < <("${PY[@]}" - <<'EOF'
from latentlab.data import DatasetError, load_dataset
from latentlab.presets import PRESETS, preset_config
STAND_IN = {"cifar10": "photo-tiles"}
seen = {}
for name in PRESETS:
    ds = preset_config(name).dataset
    if ds not in seen:
        try:
            load_dataset(ds, download=False, progress=False)
            seen[ds] = ds
        except DatasetError:
            seen[ds] = STAND_IN.get(ds, f"{ds}-sample")
    print(name, seen[ds])
EOF
)
if ((${#PLAN[@]} == 0)); then
  echo "bench/gpu.sh: could not list the presets with ${PY[*]} (is latentlab importable?)" >&2
  exit 4
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/latentlab-gpu-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
for line in "${PLAN[@]}"; do
  read -r preset data <<< "$line"
  step "train-$preset" "$TRAIN_TIMEOUT" "${PY[@]}" -m latentlab train "$preset" --dataset "$data" --epochs "$EPOCHS" \
    --device cuda --quiet --out "$WORK/runs/$preset"
  if ((DRY == 0)) && [[ -f "$WORK/runs/$preset/history.jsonl" ]]; then
    echo "$preset ($data): $(tail -n 1 "$WORK/runs/$preset/history.jsonl")" >> "$DEST/gpu-train-speed.txt"
  fi
done

step report-full "$REPORT_TIMEOUT" "${PY[@]}" -m latentlab report --profile full --set train.device=cuda --quiet \
  --out "$WORK/report"
((DRY)) || cp "$WORK/report/metrics.json" "$DEST/report-full-metrics.json" 2>/dev/null || true

step one-class "$BENCH_TIMEOUT" "${PY[@]}" -m latentlab benchmark one-class --dataset fashion-mnist --jobs 1 --quiet \
  --out "$WORK/benchmarks"
((DRY)) || cp "$WORK"/benchmarks/*.json "$DEST/" 2>/dev/null || true

((DRY)) && echo "(dry run: nothing was run)" || echo "results in $DEST"
