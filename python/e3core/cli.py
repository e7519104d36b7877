"""The command line: ``python -m e3core train | evaluate | export`` (see docs/training.md).

Example::

    >>> main(["train", "demo.yaml", "--set", "training.epochs=1"])  # doctest: +SKIP
    0
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m e3core", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the model a YAML configuration describes")
    train.add_argument("config", help="YAML configuration (docs/training.md)")
    train.add_argument("--resume", action="store_true", help="continue from output_dir/last.pt")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a key (training.epochs=5)")  # fmt: skip

    evaluate = commands.add_parser("evaluate", help="metrics and parity plots of a trained model")
    evaluate.add_argument("checkpoint", help="run directory (its best.pt) or checkpoint file")
    evaluate.add_argument("--data", help="xyz file or .npz dataset to evaluate on (all of it)")
    evaluate.add_argument("--split", default="test", help="split of the run's data (test)")
    evaluate.add_argument("--out", help="output directory (default RUN_DIR/eval_SPLIT)")
    evaluate.add_argument("--no-plots", action="store_true", help="skip the parity plots")

    export = commands.add_parser(
        "export", help="export a trained model for simulation codes (docs/deploy.md)"
    )
    export.add_argument("checkpoint", help="run directory (its best.pt) or checkpoint file")
    export.add_argument("out", help="output file (.pt for torchscript, .pt2 for aoti)")
    export.add_argument("--format", default="torchscript", choices=("torchscript", "aoti"))
    export.add_argument("--dtype", choices=("float32", "float64"), help="cast the model first")
    return parser


def _close_process_group() -> None:
    """Destroys the process group a run under torchrun started, after it finished: one left to
    the interpreter's exit can abort the process ("terminate called without an active
    exception", gloo's threads; pytorch issue 190489). Not after an error, where the other
    processes may still wait in a collective."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status (errors are printed as one line, status 2).

    Example::

        >>> main(["export", "runs/demo", "demo.pt"])  # doctest: +SKIP
        0
    """
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if args.command == "train":
            from e3core.train._config import load_config
            from e3core.train._run import train_from_config

            train_from_config(load_config(args.config, args.overrides), resume=args.resume)
            _close_process_group()
        elif args.command == "evaluate":
            from e3core.train._run import evaluate_checkpoint

            metrics = evaluate_checkpoint(
                args.checkpoint, args.data, args.split, args.out, plots=not args.no_plots
            )
            print(json.dumps(metrics, indent=2))
        else:
            import torch

            from e3core.deploy import export

            dtype = None if args.dtype is None else getattr(torch, args.dtype)
            metadata = export(args.checkpoint, args.out, args.format, dtype=dtype)
            print(
                f"exported {metadata['model_name']} ({args.format}, {metadata['dtype']}) "
                f"to {args.out}"
            )
    except (ValueError, ImportError, OSError) as error:  # OSError: files (their names are in it)
        print(f"e3core {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = " (continue it with --resume)" if args.command == "train" else ""
        print(f"e3core {args.command}: interrupted{resume}", file=sys.stderr)
        return 130
    print(f"e3core {args.command}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
