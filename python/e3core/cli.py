"""The command line: ``python -m e3core export CHECKPOINT OUT --format torchscript|aoti``.

Example::

    >>> main(["export", "best.pt", "water.pt", "--format", "torchscript"])  # doctest: +SKIP
    exported pair_test (torchscript, float64) to water.pt
    0
"""

import argparse
import sys
import time
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m e3core", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export", help="export a trained model for simulation codes (docs/deploy.md)"
    )
    export.add_argument("checkpoint", help="checkpoint file of a trained model")
    export.add_argument("out", help="output file (.pt for torchscript, .pt2 for aoti)")
    export.add_argument("--format", default="torchscript", choices=("torchscript", "aoti"))
    export.add_argument("--dtype", choices=("float32", "float64"), help="cast the model first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status (errors are printed as one line, status 2).

    Example::

        >>> main(["export", "missing.pt", "out.pt"])
        2
    """
    import torch

    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        from e3core.deploy import export

        dtype = None if args.dtype is None else getattr(torch, args.dtype)
        metadata = export(args.checkpoint, args.out, args.format, dtype=dtype)
        print(
            f"exported {metadata['model_name']} ({args.format}, {metadata['dtype']}) to {args.out}"
        )
    except (ValueError, ImportError, FileNotFoundError) as error:
        print(f"e3core {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(f"e3core {args.command}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
