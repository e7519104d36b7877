"""Makes python/e3core/data/qm9_sample.npz, the QM9 slice shipped with e3core.

The slice is QM9's first 100 molecules (CH4, NH3, H2O, ...: known values for tests) and 900
drawn at random (numpy seed 0) from the other 130,731, in QM9 order, with every target of
e3core.data.load_qm9 in qm9pack's units. It needs qm9pack (pip install --no-deps qm9pack):

    python scripts/make_qm9_sample.py [--output PATH] [--first 100] [--random 900] [--seed 0]
"""

import argparse
import os
import time

import numpy as np
from e3core import data


def main() -> None:
    """Parses qm9pack's CSV files and writes the slice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(
        os.path.dirname(__file__), "..", "python", "e3core", "data", "qm9_sample.npz"))  # fmt: skip
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--random", type=int, default=900)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--path", default=None, help="qm9pack's data directory (default: found)")
    args = parser.parse_args()

    start = time.perf_counter()
    qm9 = data.load_qm9(args.path)
    print(f"parsed {len(qm9)} molecules in {time.perf_counter() - start:.1f} s")
    rest = np.random.default_rng(args.seed).choice(
        np.arange(args.first, len(qm9)), size=args.random, replace=False
    )
    chosen = np.sort(np.concatenate([np.arange(args.first), rest]))
    sample = qm9.subset(chosen)
    sample.save(args.output)
    size = os.path.getsize(args.output)
    print(f"wrote {len(sample)} molecules, {sample.positions.shape[0]} atoms to {args.output} "
          f"({size / 1024:.0f} KiB)")  # fmt: skip


if __name__ == "__main__":
    main()
