#!/usr/bin/env bash
# Builds the C++ core, its unit tests and the fuzz targets with AddressSanitizer and
# UndefinedBehaviorSanitizer (clang, libFuzzer; build/sanitize), then fuzzes one target or all.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS] [LIBFUZZER_FLAG ...]
#
# TARGET is plan, irreps or neighbor_list (default: all, one after the other); SECONDS the time
# per target (default 60; 0 for no limit, e.g. with -runs=N). Further arguments go to libFuzzer
# (-runs=1000000, -jobs=2, ...). Each target starts from the seed corpus (written by
# e3core_fuzz_seeds) and the inputs kept from earlier runs in build/fuzz-corpus/TARGET; a crash
# is written to build/fuzz-artifacts/ and fails the script. docs/fuzzing.md says more.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="${1:-all}"
SECONDS_PER_TARGET="${2:-60}"
shift $(($# < 2 ? $# : 2))
case "$TARGET" in
  all) TARGETS=(plan irreps neighbor_list) ;;
  plan | irreps | neighbor_list) TARGETS=("$TARGET") ;;
  *)
    echo "usage: scripts/fuzz.sh [plan|irreps|neighbor_list|all] [SECONDS] [LIBFUZZER_FLAG ...]" >&2
    exit 2
    ;;
esac
if ! command -v clang++ >/dev/null 2>&1; then
  echo "[fuzz] error: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

BUILD=build/sanitize
# -O0: the kernels' forced inlining takes minutes per file to optimise under the sanitizers; line
# tables only: reports name lines, for less build time than full debug information.
CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -gline-tables-only" -DE3CORE_SANITIZE=ON -DE3CORE_FUZZ=ON \
  -DE3CORE_TESTS=ON -DE3CORE_TORCH=OFF -DE3CORE_PYTHON=OFF >/dev/null
cmake --build "$BUILD"
rm -rf "$BUILD/seeds"
"$BUILD/tests/fuzz/e3core_fuzz_seeds" "$BUILD/seeds"
mkdir -p build/fuzz-artifacts

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for t in "${TARGETS[@]}"; do
  mkdir -p "build/fuzz-corpus/$t"
  echo "[fuzz] $t: ${SECONDS_PER_TARGET} s $*"
  # -timeout: an input that runs for seconds is a hang; -max_len: room for plans of a few paths.
  # libFuzzer's line per new input is left out of the log.
  set +e
  "$BUILD/tests/fuzz/e3core_fuzz_$t" "build/fuzz-corpus/$t" "$BUILD/seeds/$t" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="build/fuzz-artifacts/$t-" "$@" 2>&1 \
    | grep --line-buffered -vE "^#[0-9]+[[:space:]]+(NEW|REDUCE)"
  status="${PIPESTATUS[0]}"
  set -e
  if [ "$status" -ne 0 ]; then
    echo "[fuzz] error: $t failed (exit $status); the input is in build/fuzz-artifacts/" >&2
    exit 1
  fi
done
