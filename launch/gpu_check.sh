#!/usr/bin/env bash
# The first run on a GPU, in one command (< 8 minutes on one GPU): device and versions, the GPU-relevant
# tests, Task 3 --model_size=large on the full data-size grid under a time cap, the sweep benchmark, and a
# Task 2 slice at the study's budget. Everything goes into one folder to commit under docs/results/gpu/.
#
#   launch/gpu_check.sh                      # -> docs/results/gpu/<date>_<device kind>/
#   launch/gpu_check.sh --cpu-smoke OUT_DIR  # the same steps at tiny sizes, seconds each (what CI runs)
#   GPU_CHECK_CPU_SMOKE=1 launch/gpu_check.sh OUT_DIR
#
# Files in the folder: device.txt (jax/jaxlib versions, devices, nvidia-smi when present), timings.tsv
# (step, seconds, exit code, time cap), <step>.log for every step, tests.txt, task3_large/ (results so far and
# epochs_reached.txt; checkpoints removed), bench_sweep.json + bench_sweep.md, task2_slice/, summary.md.
# A step that fails or hits its cap is recorded (exit code 124 = cap) and the next step still runs.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

smoke="${GPU_CHECK_CPU_SMOKE:-0}"
if [[ "${1:-}" == "--cpu-smoke" ]]; then smoke=1; shift; fi
if [[ $# -gt 1 ]]; then echo "gpu_check.sh: expected [--cpu-smoke] [OUT_DIR], got $*" >&2; exit 2; fi

if [[ "$smoke" == 1 ]]; then
  export JAX_PLATFORMS=cpu
  tests=(tests/test_engine.py -k "shuffle_order or process_slice")
  task3=(--model_size=small --data_sizes=1000 --seeds=1 --max_epochs=2)
  bench=(--smoke --noone_lane --noserial_compile --flops_n_blocks=0)
  task2=(--hidden=3 --data_sizes=200 --seeds=1 --max_epochs=2 --models=vanilla)
  caps=(60 120 120 120 120)
else
  tests=(tests/test_engine.py tests/test_engine_results.py)
  task3=(--model_size=large)  # the full data-size grid and the study's 400 epochs; the cap decides how far
  bench=(--noone_lane --flops_epochs=3)  # one lane at a time would not fit the cap
  task2=(--hidden=3 --data_sizes=4110 --seeds=1)  # the study's budget: 250 epochs, patience 15
  caps=(20 80 150 110 80)  # 440 s at most
fi

kind=$(python -c "import jax; print(jax.devices()[0].device_kind.replace(' ', '_'))" 2>/dev/null || echo unknown)
out="${1:-docs/results/gpu/$(date -u +%Y-%m-%d)_${kind}}"
mkdir -p "$out"
printf 'step\tseconds\texit_code\tcap_s\n' > "$out/timings.tsv"

step() {  # step NAME CAP_S COMMAND...: runs COMMAND under `timeout`, log in $out/NAME.log, a line in timings.tsv
  local name=$1 cap=$2; shift 2
  local start end rc
  start=$(date +%s.%N)
  timeout --kill-after=10 "$cap" "$@" > "$out/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  local seconds
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%d\t%d\n' "$name" "$seconds" "$rc" "$cap" >> "$out/timings.tsv"
  echo "gpu_check: $name exit $rc after $seconds s (cap $cap s)"
}

step device "${caps[0]}" python -c "
import jax, jaxlib, platform
print(f'jax {jax.__version__}, jaxlib {jaxlib.__version__}, python {platform.python_version()}')
print(f'backend {jax.default_backend()}; devices {jax.devices()}')
for d in jax.devices():
    print(f'device {d.id}: {d.device_kind}')"
{
  cat "$out/device.log"; echo
  if command -v nvidia-smi > /dev/null; then nvidia-smi 2>&1; else echo "nvidia-smi: not present"; fi
} > "$out/device.txt"
step tests "${caps[1]}" python -m pytest -q -n 0 -p no:cacheprovider "${tests[@]}"
cp "$out/tests.log" "$out/tests.txt"
step task3_large "${caps[2]}" python experiments/task3.py "${task3[@]}" --checkpoint_every=1 --quiet \
  --out_dir="$out/task3_large"
{
  echo "epochs reached per architecture (newest checkpoint; checkpoint every epoch):"
  for dir in "$out"/task3_large/checkpoints/*/; do
    [[ -d "$dir" ]] || continue
    newest=$(find "$dir" -maxdepth 3 -type d -name 'step_*' | sed 's/.*step_//' | sort -n | tail -1)
    echo "$(basename "$dir"): ${newest:-0}"
  done
} > "$out/task3_large/epochs_reached.txt" 2>/dev/null || echo "no task3 output" > "$out/task3_epochs_reached.txt"
rm -rf "$out/task3_large/checkpoints"
step bench_sweep "${caps[3]}" python experiments/bench_sweep.py "${bench[@]}" --json_out="$out/bench_sweep.json" \
  --out="$out/bench_sweep.md"
step task2_slice "${caps[4]}" python experiments/task2.py "${task2[@]}" --checkpoint_every=1000 --quiet \
  --out_dir="$out/task2_slice"
rm -rf "$out/task2_slice/checkpoints"

{
  echo "# GPU check $(date -u +%Y-%m-%dT%H:%MZ)$([[ "$smoke" == 1 ]] && echo ' (CPU smoke mode: tiny sizes)')"
  echo
  echo '```'
  head -4 "$out/device.txt"
  echo '```'
  echo
  echo "| step | seconds | exit code (124 = time cap) | cap s |"
  echo "|---|---:|---:|---:|"
  tail -n +2 "$out/timings.tsv" | awk -F'\t' '{print "| " $1 " | " $2 " | " $3 " | " $4 " |"}'
  echo
  echo "Tests: $(tail -1 "$out/tests.txt")"
  echo
  cat "$out/task3_large/epochs_reached.txt" 2>/dev/null
} > "$out/summary.md"
cat "$out/summary.md"
echo "gpu_check: everything is in $out"
