"""e3core.util.test against e3nn.util.test: the same verdicts, errors and random irreps."""

import random

import e3nn.util.test as e3nn_test
import pytest
import torch
from e3core import o3
from e3core.util import test
from e3core.util.jit import compile_mode

MODULES = {
    "Linear": lambda: o3.Linear("4x0e+2x1o", "3x0e+2x1o"),
    "FullyConnectedTensorProduct": lambda: o3.FullyConnectedTensorProduct(
        "2x0e+1x1o", "1x0e+1x1o", "3x0e+1x1e+1x1o"
    ),
    "SphericalHarmonics": lambda: o3.SphericalHarmonics(2, True, "component"),
}


class Scale(torch.nn.Module):
    """Multiplies features by a constant; with ``flip`` a vector is declared a pseudovector."""

    def __init__(self, factor: float, flip: bool = False) -> None:
        super().__init__()
        self.factor = factor
        self.irreps_in = o3.Irreps("2x0e+1x1o")
        self.irreps_out = o3.Irreps("2x0e+1x1e" if flip else "2x0e+1x1o")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


def centred(positions: torch.Tensor) -> torch.Tensor:
    return positions - positions.mean(dim=0)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_equivariant_modules_pass(name):
    module = MODULES[name]()
    irreps_in = "cartesian_points" if name == "SphericalHarmonics" else None
    # Spherical harmonics of positions rotate with them but do not survive a translation.
    errors = test.assert_equivariant(module, irreps_in=irreps_in, ntrials=2, do_translation=False)
    assert set(errors) == {(0, False), (1, False)}
    theirs = e3nn_test.assert_equivariant(module, irreps_in=irreps_in, do_translation=False)
    assert set(theirs) == set(errors)


def test_a_wrong_parity_is_caught_as_by_e3nn():
    module = Scale(1.0, flip=True)
    x = [torch.randn(3, 5, dtype=torch.float64)]
    ours = test.equivariance_error(module, x, transform_dtype=torch.float64)
    theirs = e3nn_test.equivariance_error(module, x)
    assert float(ours[(0, False)].max()) < 1e-6 and float(theirs[(0, False)].max()) < 1e-6
    assert float(ours[(1, False)].max()) > 0.1 and float(theirs[(1, False)].max()) > 0.1
    with pytest.raises(AssertionError, match=r"parity_k=1, did_translate=False"):
        test.assert_equivariant(module)


def test_points_rotate_and_translate():
    errors = test.assert_equivariant(centred, irreps_in="cartesian_points", irreps_out="1x1o")
    assert set(errors) == {(0, False), (0, True), (1, False), (1, True)}
    with pytest.raises(AssertionError, match="did_translate=True"):
        test.assert_equivariant(lambda p: p, irreps_in="cartesian_points", irreps_out="1x1o")


def test_format_is_e3nns():
    errors = {(0, False): torch.tensor([1e-7, 2e-6]), (1, True): torch.tensor([3.0])}
    assert test.format_equivariance_error(errors) == e3nn_test.format_equivariance_error(errors)


def canonical(irreps: object) -> str:
    """An irreps string from an Irreps of either package, a string or a list of terms."""
    return str(o3.Irreps(irreps if isinstance(irreps, str | list) else str(irreps)))


@pytest.mark.parametrize("clean", [False, True])
def test_random_irreps_draws_as_e3nn(clean):
    for seed in range(20):
        random.seed(seed)
        ours = test.random_irreps(n=3, clean=clean, allow_empty=seed % 2 == 0)
        random.seed(seed)
        theirs = e3nn_test.random_irreps(n=3, clean=clean, allow_empty=seed % 2 == 0)
        assert [canonical(x) for x in ours] == [canonical(x) for x in theirs]
        assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs]
    with pytest.raises(AssertionError):
        test.random_irreps(n=0)


def test_auto_jitable_scripts_and_traces():
    scripted = test.assert_auto_jitable(o3.Linear("2x0e+1x1o", "3x0e"))
    assert isinstance(scripted, torch.jit.ScriptModule)

    @compile_mode("trace")
    class Traced(Scale):
        pass

    traced = test.assert_auto_jitable(Traced(2.0))
    x = torch.randn(3, 5)
    torch.testing.assert_close(traced(x), 2.0 * x)
    with pytest.raises(AssertionError, match="compile mode None"):
        test.assert_auto_jitable(Scale(1.0))


def test_normalization_verdicts_as_e3nns():
    # 50 weight draws: the second moments' spread over draws is then about 0.1.
    for module in (o3.Linear("4x0e+2x1o", "3x0e+1x1o"), Scale(1.0)):
        weights = 50 if list(module.parameters()) else None
        test.assert_normalized(module, n_input=1000, n_weight=weights, atol=0.35)
        e3nn_test.assert_normalized(module, n_input=1000, n_weight=weights, atol=0.35)
    for normalization in ("component", "norm"):
        with pytest.raises(AssertionError, match="Max componentwise error"):
            test.assert_normalized(Scale(3.0), normalization=normalization, n_input=2000)
        with pytest.raises(AssertionError, match="Max componentwise error"):
            e3nn_test.assert_normalized(Scale(3.0), normalization=normalization, n_input=2000)


def test_seeds():
    test.set_random_seeds()
    first = (torch.rand(1).item(), random.random())
    test.set_random_seeds()
    assert (torch.rand(1).item(), random.random()) == first


def test_torch_compile_helper_as_e3nns():
    import functools

    build = functools.partial(o3.Linear, "2x0e+1x1o", "1x0e+1x1o")
    x = torch.randn(4, 5)
    compiled = test.assert_torch_compile("eager", build, x)
    assert compiled(x).shape == (4, 4)
    assert test.get_optimization_defaults()["jit_mode"] == "eager"  # restored

    class Breaks(torch.nn.Module):
        def forward(self, x):
            print("graph break")
            return x

    with pytest.raises(Exception, match="print"):
        test.assert_torch_compile("eager", Breaks, x)
    with pytest.raises(Exception, match="print"):
        e3nn_test.assert_torch_compile("eager", Breaks, x)


def test_reexports_of_util_jit():
    from e3core.util import jit

    assert test.compile is jit.compile and test.get_tracing_inputs is jit.get_tracing_inputs


def test_float_tolerance_fixture_runs_each_test_in_both_dtypes(tmp_path):
    import subprocess
    import sys

    (tmp_path / "conftest.py").write_text("from e3core.util.test import float_tolerance  # noqa\n")
    (tmp_path / "test_dtype.py").write_text(
        "import torch\n"
        "def test_dtype(float_tolerance):\n"
        "    dtype = torch.get_default_dtype()\n"
        "    assert float_tolerance.dtype == dtype\n"
        "    expected = {torch.float32: 1e-3, torch.float64: 1e-9}[dtype]\n"
        "    assert float_tolerance == torch.tensor(expected, dtype=dtype)\n"
        "    print('dtype', dtype)\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "2 passed" in run.stdout, run.stdout + run.stderr
    assert "dtype torch.float32" in run.stdout and "dtype torch.float64" in run.stdout
