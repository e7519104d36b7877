#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs the demo: trains a small SchNet on the QM9 slice shipped
# with e3core (progress bar), evaluates it on its test split, plots, and exports it.
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
echo "[demo] done in $(($(date +%s) - start)) s: $RUN/metrics.csv, $RUN/learning_curves.png," \
  "$RUN/parity_U0.png, $RUN/eval_test/, $RUN/model.pt"
