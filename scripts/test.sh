#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs every test: lint, the C++ unit tests (ctest, also under
# the sanitizers with the fuzz targets) and pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
cd "$ROOT"

echo "[test] ruff"
ruff check .

echo "[test] C++ unit tests"
cmake -S . -B build/ctest -G Ninja -DE3CORE_TESTS=ON -DE3CORE_TORCH=OFF -DE3CORE_PYTHON=OFF \
  -DPython_EXECUTABLE="$(command -v python)" >/dev/null
cmake --build build/ctest
ctest --test-dir build/ctest --output-on-failure

echo "[test] C++ unit tests and fuzz targets under AddressSanitizer + UndefinedBehaviorSanitizer"
# fuzz.sh builds build/sanitize (clang; the unit tests too), then fuzzes each target for 30 s from
# its seed corpus; any sanitizer report fails the step (docs/fuzzing.md).
scripts/fuzz.sh all 30
UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build/sanitize --output-on-failure

echo "[test] pytest"
# Run from tests/ so that the installed package, not python/ in the source tree, is imported.
cd tests && python -m pytest -q python "$@"
