"""``python -m e3core`` runs the command line (``e3core.cli``).

Example::

    >>> # python -m e3core train examples/configs/demo.yaml
    $ python -m e3core export runs/water/best.pt water.pt --format torchscript
"""

from e3core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
