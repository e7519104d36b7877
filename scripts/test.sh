#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs every test: lint, the C++ unit tests (ctest) and pytest.
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

echo "[test] pytest"
# Run from tests/ so that the installed package, not python/ in the source tree, is imported.
cd tests && python -m pytest -q python "$@"
