#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs the demo: a short tour of e3core.o3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
python examples/o3_tour.py
