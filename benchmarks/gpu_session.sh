#!/usr/bin/env bash
# One prepared run of the benchmark suite for a lent GPU machine (no network; JAX, Flax, Optax,
# Orbax, h5py, pandas, matplotlib and SciPy preinstalled, this package not installed). From the
# repository root:
#
#     bash benchmarks/gpu_session.sh OUT [SECONDS]
#
# SECONDS (default 480) is the time the whole script may take. In order, each writing into OUT:
#   1. device.txt: nvidia-smi, the JAX devices and versions;
#   2. quick/: the quick suite (python -m benchmarks run --quick --plot), the fallback result;
#   3. full/: the full suite (HH to B = 10^6, the ring to 1,024 trials of 3 s, every training
#      config at full size) under `timeout` with what is left of SECONDS, less a margin; if it
#      is cut off, quick/ is what came back.
# Then, on the development machine: copy the suite_*.json (and .md, .png) from OUT/full (or
# OUT/quick) into benchmarks/results/ and run `python -m benchmarks report`.
# Dry run on a CPU: the same script runs there (it says it found no GPU).
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_session.sh OUT [SECONDS]}
budget=${2:-480}
case $budget in '' | *[!0-9]*)
  echo "SECONDS must be a whole number of seconds, got '$budget'" >&2
  exit 2
  ;;
esac
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
start=$SECONDS
mkdir -p "$out/quick" "$out/full" || exit 2
{
  if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1; else echo "no nvidia-smi here"; fi
  python -c 'import jax; print("jax", jax.__version__, jax.default_backend(), jax.devices())'
} >"$out/device.txt" 2>&1
cat "$out/device.txt"

echo "== quick suite"
timeout $((budget - 30)) python -m benchmarks run --quick --plot --out "$out/quick" \
  --note "benchmarks/gpu_session.sh, quick part" 2>&1 | tee "$out/quick/log.txt"
quick_rc=${PIPESTATUS[0]}
left=$((budget - (SECONDS - start) - 20))
echo "== quick suite: exit $quick_rc; $left s left for the full suite"
full_rc=skipped
if [ "$left" -ge 60 ]; then
  timeout "$left" python -m benchmarks run --plot --out "$out/full" \
    --note "benchmarks/gpu_session.sh, full part" 2>&1 | tee "$out/full/log.txt"
  full_rc=${PIPESTATUS[0]}
fi
echo "== full suite: exit $full_rc (124: cut off at the time limit); $((SECONDS - start)) s in all"
ls -l "$out/quick" "$out/full"
[ "$quick_rc" = 0 ] || [ "$full_rc" = 0 ]
