#!/usr/bin/env bash
# The checks that need a GPU, in one run: builds e3core with its CUDA kernels against the
# installed CUDA torch (no network needed), runs the CUDA tests, the GPU benchmark and, with
# FULL=1, the whole test suite. Logs go to $OUT (default gpu-results/).
#
#   bash scripts/gpu_check.sh                      # build, tests/python/test_cuda.py, quick bench
#   FULL=1 BENCH_ARGS="" bash scripts/gpu_check.sh   # and the whole suite, the full benchmark
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-results}"
mkdir -p "$OUT"
cd "$ROOT"
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "[gpu] nvidia-smi failed (no GPU?)"

echo "[gpu] build"
start=$SECONDS
if ! pip install --no-build-isolation --no-deps -e . >"$OUT/build.log" 2>&1; then
  tail -n 60 "$OUT/build.log"
  exit 1
fi
echo "[gpu] built in $((SECONDS - start)) s"
grep -E "e3core: (CUDA|torch)" "$OUT/build.log" || true
python -c "import torch, e3core; print('[gpu] torch', torch.__version__, 'CUDA', torch.version.cuda, \
  torch.cuda.get_device_name())"

echo "[gpu] tests/python/test_cuda.py"
cd "$ROOT/tests"
python -m pytest -q -p no:cacheprovider python/test_cuda.py 2>&1 | tee "$OUT/test_cuda.log" | tail -n 40
status=${PIPESTATUS[0]}

echo "[gpu] bench/bench_cuda.py ${BENCH_ARGS---quick}"
cd "$ROOT"
# shellcheck disable=SC2086
python bench/bench_cuda.py ${BENCH_ARGS---quick} 2>&1 | tee "$OUT/bench_cuda.md"

if [ "${FULL:-0}" = 1 ]; then
  echo "[gpu] the whole suite"
  cd "$ROOT/tests"
  python -m pytest -q -p no:cacheprovider python 2>&1 | tee "$OUT/pytest.log" | tail -n 30
  status=$((status || PIPESTATUS[0]))
fi
exit "$status"
