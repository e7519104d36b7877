"""e3core built and installed as a CMake package once per test session, for the tests of the
C++ programs that link it (examples/cpp/md, the LAMMPS plugin).

The library is built into build/deploy (git-ignored; later runs only check that it is up to
date) and installed into build/deploy/prefix.

Example::

    >>> prefix = installed_prefix()  # doctest: +SKIP
    >>> (prefix / "lib" / "cmake" / "e3core").is_dir()  # doctest: +SKIP
    True
"""

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "deploy"
PREFIX = BUILD / "prefix"

# The marker of modules whose tests need cmake and a compiler.
HAVE_TOOLS = shutil.which("cmake") is not None and shutil.which(os.environ.get("CXX", "c++"))


def run_checked(command: list[str], timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    """Runs ``command``; its output in an AssertionError when it fails.

    Example::

        >>> run_checked(["true"]).returncode
        0
    """
    env = dict(kwargs.pop("env", os.environ))
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(min(2, os.cpu_count() or 1)))
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def generator() -> list[str]:
    """CMake's generator arguments: Ninja where it is installed.

    Example::

        >>> generator() in (["-G", "Ninja"], [])
        True
    """
    return ["-G", "Ninja"] if shutil.which("ninja") else []


@functools.cache
def installed_prefix() -> Path:
    """The prefix e3core's CMake package is installed in (built here if not yet).

    Example::

        >>> installed_prefix().name  # doctest: +SKIP
        'prefix'
    """
    if not (BUILD / "CMakeCache.txt").is_file():
        run_checked(
            ["cmake", "-S", str(ROOT), "-B", str(BUILD), *generator(),
             "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}",
             "-DE3CORE_TORCH=ON", "-DE3CORE_PYTHON=OFF", "-DE3CORE_TESTS=OFF",
             "-DE3CORE_INSTALL_PACKAGE=ON"]
        )  # fmt: skip
    run_checked(["cmake", "--build", str(BUILD)])
    run_checked(["cmake", "--install", str(BUILD), "--prefix", str(PREFIX)])
    return PREFIX
