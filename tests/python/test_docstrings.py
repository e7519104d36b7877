"""Every docstring example of every e3core module runs and gives what it shows."""

import doctest
import importlib
import pkgutil

import e3core
import numpy as np
import pytest
import torch
from e3core import data

# Modules whose examples cannot run in a test (they start training runs, compile a training
# step for tens of seconds or need a shell), or that hold no Python functions: their docstrings
# are still read, never counted as tested (test_train_compiled.py tests the compiled step).
NOT_RUN = {
    "e3core.__main__",
    "e3core._core",
    "e3core.cli",
    "e3core.deploy._module",
    "e3core.train._compiled",
    "e3core.train._trainer",
}
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(e3core.__path__, "e3core.")
    if not m.name.startswith("e3core.libe3core")  # the torch op library, not a Python module
)


def test_every_module_is_found():
    assert {"e3core.o3._irreps", "e3core.train._config", "e3core.models._kwargs"} <= set(MODULES)


@pytest.mark.parametrize("name", ["e3core", *MODULES])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    globs = {"np": np, "torch": torch, "e3core": e3core, "data": data, **vars(data)}
    result = doctest.testmod(
        module, extraglobs=globs, optionflags=doctest.NORMALIZE_WHITESPACE, report=True
    )
    assert result.failed == 0, name
    assert (result.attempted > 0) == (name not in NOT_RUN), name
