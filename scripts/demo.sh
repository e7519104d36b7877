#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs the demo: trains a small SchNet on the QM9 slice shipped
# with e3core (progress bar), evaluates it on its test split, plots, exports it, and runs the
# export from C++.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
if ! python -c "import e3core.models" 2>/dev/null; then
  echo "[demo] error: e3core.models cannot be imported; the demo trains e3core's SchNet" >&2
  python -c "import e3core.models" || true
  exit 1
fi
RUN=runs/demo
rm -rf "$RUN"
start=$(date +%s)
echo "[demo] training (examples/configs/demo.yaml)"
python -m e3core train examples/configs/demo.yaml --set "output_dir=$RUN"
echo "[demo] evaluating on the test split"
python -m e3core evaluate "$RUN"
echo "[demo] exporting (TorchScript)"
python -m e3core export "$RUN" "$RUN/model.pt"
# The C++ side: examples/cpp/md (e3core::Model, include/e3core/model.hpp, plain C++ types) built
# against the libe3core_torch of the installed package, then 20 NVE steps of a small water box
# with the exported model as the potential (a check of the C++ path, not a water model).
echo "[demo] running the exported model from C++ (examples/cpp/md)"
LIB="$(python -c 'import e3core, os; print(os.path.dirname(e3core.__file__))')"
"${CXX:-g++}" -O2 -std=c++17 -I include examples/cpp/md/md.cpp -L"$LIB" -l:libe3core_torch.so \
  -Wl,-rpath,"$LIB" -o "$RUN/e3core_md"
"$RUN/e3core_md" "$RUN/model.pt" --molecules-per-side 2 --steps 20 --print-every 5
echo "[demo] done in $(($(date +%s) - start)) s: $RUN/metrics.csv, $RUN/learning_curves.png," \
  "$RUN/parity_U0.png, $RUN/eval_test/, $RUN/model.pt, $RUN/e3core_md"
