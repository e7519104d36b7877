"""Code written for e3nn keeps working on e3core's modules: the errors e3nn's code catches and
e3nn's compile-mode marker, which e3nn's test helpers and ``e3nn.util.jit.compile`` read."""

import copy

import e3core
import pytest
import torch
from e3core import nn, o3
from e3core.math import normalize2mom
from e3core.util.jit import compile_mode, get_compile_mode
from e3nn import nn as e3nn_nn
from e3nn import o3 as e3nn_o3
from e3nn.util.jit import get_compile_mode as e3nn_get_compile_mode
from e3nn.util.test import assert_auto_jitable, assert_equivariant

# Each case builds or calls a module the way code written for e3nn would, wrongly.
ERROR_CASES = {
    "path into an irrep the product lacks": lambda o3, nn: o3.TensorProduct(
        "1x0e", "1x0e", "1x1o", [(0, 0, 0, "uvw", True)]
    ),
    "uvu with different multiplicities": lambda o3, nn: o3.TensorProduct(
        "2x0e", "1x0e", "3x0e", [(0, 0, 0, "uvu", True)]
    ),
    "x1 with the wrong columns": lambda o3, nn: o3.FullyConnectedTensorProduct(
        "2x0e", "1x0e", "1x0e"
    )(torch.randn(3, 3), torch.randn(3, 1)),
    "tensor product without its weight": lambda o3, nn: o3.FullyConnectedTensorProduct(
        "2x0e", "1x0e", "1x0e", internal_weights=False, shared_weights=True
    )(torch.randn(3, 2), torch.randn(3, 1)),
    "Linear input with the wrong columns": lambda o3, nn: o3.Linear("2x0e", "1x0e")(
        torch.randn(3, 3)
    ),
    "Linear without its weight": lambda o3, nn: o3.Linear(
        "2x0e", "1x0e", internal_weights=False, shared_weights=True
    )(torch.randn(3, 2)),
    "Linear instruction between different irreps": lambda o3, nn: o3.Linear(
        "2x0e", "1x1o", instructions=[(0, 0)]
    ),
    "Gate with too many gates": lambda o3, nn: nn.Gate(
        "2x0e", [torch.tanh], "2x0e", [torch.tanh], "1x1o"
    ),
    "Gate of non-scalars": lambda o3, nn: nn.Gate(
        "2x1o", [torch.tanh], "1x0e", [torch.tanh], "1x1o"
    ),
    "Activation with a missing function": lambda o3, nn: nn.Activation("2x0e+1x0o", [torch.tanh]),
    "Activation of a vector": lambda o3, nn: nn.Activation("1x1o", [torch.tanh]),
    "FullyConnectedNet input with the wrong columns": lambda o3, nn: nn.FullyConnectedNet([3, 2])(
        torch.randn(2, 4)
    ),
    "Norm input with the wrong columns": lambda o3, nn: o3.Norm("2x1o")(torch.randn(2, 5)),
    "BatchNorm input with the wrong columns": lambda o3, nn: nn.BatchNorm("2x1o")(
        torch.randn(2, 5)
    ),
    "wigner_3j of a forbidden triple": lambda o3, nn: o3.wigner_3j(1, 1, 3),
    "an irreps string with a bad parity": lambda o3, nn: o3.Irreps("2x1q"),
}

# e3nn refuses these without checking, by failing to index: e3core checks and says so.
LOOKUP_CASES = {
    "instruction index out of range": lambda o3, nn: o3.TensorProduct(
        "1x0e", "1x0e", "1x0e", [(0, 1, 0, "uvw", True)]
    ),
    "unknown connection mode": lambda o3, nn: o3.TensorProduct(
        "1x0e", "1x0e", "1x0e", [(0, 0, 0, "xyz", True)]
    ),
    "Extract of an index out of range": lambda o3, nn: nn.Extract("2x0e", ["1x0e"], [(3,)]),
}


def raised(case) -> Exception:
    try:
        case()
    except Exception as error:  # noqa: BLE001 - the test compares whatever is raised
        return error
    raise AssertionError("no error raised")


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_e3core_raises_what_e3nn_code_catches(name):
    theirs = raised(lambda: ERROR_CASES[name](e3nn_o3, e3nn_nn))
    ours = raised(lambda: ERROR_CASES[name](o3, nn))
    assert type(theirs) in (AssertionError, RuntimeError, ValueError), theirs
    assert isinstance(ours, type(theirs)), (name, type(ours), type(theirs))
    assert isinstance(ours, ValueError)


@pytest.mark.parametrize("name", sorted(LOOKUP_CASES))
def test_unchecked_lookups_of_e3nn_are_argument_errors(name):
    assert isinstance(raised(lambda: LOOKUP_CASES[name](e3nn_o3, e3nn_nn)), LookupError)
    assert isinstance(raised(lambda: LOOKUP_CASES[name](o3, nn)), e3core.ArgumentError)


def test_error_classes():
    assert issubclass(e3core.ArgumentError, ValueError)
    assert issubclass(e3core.ArgumentError, AssertionError)
    for cls in (e3core.ShapeError, e3core.MissingWeightError):
        assert issubclass(cls, e3core.ArgumentError) and issubclass(cls, RuntimeError)


def test_messages_name_the_argument():
    with pytest.raises(e3core.ShapeError, match=r"x has shape \[3, 3\], expected \(\.\.\., 2\)"):
        o3.FullyConnectedTensorProduct("2x0e", "1x0e", "1x0e")(torch.randn(3, 3), torch.randn(3, 1))
    with pytest.raises(e3core.MissingWeightError, match="weight is required"):
        o3.Linear("2x0e", "1x0e", internal_weights=False, shared_weights=True)(torch.randn(3, 2))


def test_a_scripted_module_still_refuses_bad_input():
    scripted = torch.jit.script(o3.Norm("2x1o"))
    with pytest.raises(torch.jit.Error, match="ShapeError"):
        scripted(torch.randn(2, 5))


MODULES = {
    "Linear": lambda: o3.Linear("4x0e+2x1o", "3x0e+2x1o"),
    "TensorProduct": lambda: o3.TensorProduct(
        "2x0e+1x1o", "1x1o", "2x1o+1x0e", [(0, 0, 0, "uvw", True), (1, 0, 1, "uvu", True)]
    ),
    "FullyConnectedTensorProduct": lambda: o3.FullyConnectedTensorProduct(
        "2x0e+1x1o", "1x0e+1x1o", "3x0e+1x1e"
    ),
    "ElementwiseTensorProduct": lambda: o3.ElementwiseTensorProduct("2x0e+1x1o", "2x0e+1x1o"),
    "FullTensorProduct": lambda: o3.FullTensorProduct("2x0e+1x1o", "1x0e+1x1o"),
    "TensorSquare": lambda: o3.TensorSquare("2x0e+1x1o"),
    "SphericalHarmonics": lambda: o3.SphericalHarmonics(2, True, "component"),
    "Norm": lambda: o3.Norm("2x1o+1x2e"),
    "Gate": lambda: nn.Gate("2x0e", [torch.tanh], "1x0e", [torch.tanh], "1x1o"),
    "Activation": lambda: nn.Activation("2x0e+1x0o", [torch.tanh, torch.abs]),
    "BatchNorm": lambda: nn.BatchNorm("2x0e+1x1o"),
    "Dropout": lambda: nn.Dropout("2x0e+1x1o", 0.5),
    "Extract": lambda: nn.Extract("2x0e+1x1o", ["1x1o", "2x0e"], [(1,), (0,)]),
    "ExtractIr": lambda: nn.ExtractIr("2x0e+1x1o", "1o"),
    "FullyConnectedNet": lambda: nn.FullyConnectedNet([3, 4, 2], torch.tanh),
    "NormActivation": lambda: nn.NormActivation("2x1o", torch.sigmoid),
    "normalize2mom": lambda: normalize2mom(torch.tanh),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_e3nns_jit_helper_compiles_e3cores_modules(name):
    module = MODULES[name]()
    assert get_compile_mode(module) == e3nn_get_compile_mode(module) == "script"
    assert_auto_jitable(module)


# Modules without irreps_in/irreps_out attributes (as in e3nn): their irreps, given explicitly.
EXPLICIT_IRREPS = {
    "BatchNorm": {"irreps_in": "2x0e+1x1o", "irreps_out": "2x0e+1x1o"},
    "Extract": {"irreps_in": "2x0e+1x1o", "irreps_out": ["1x1o", "2x0e"]},
    "FullyConnectedNet": {"irreps_in": "3x0e", "irreps_out": "2x0e"},
}


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"Dropout", "normalize2mom"}))
def test_e3nns_equivariance_helper_checks_e3cores_modules(name):
    module = MODULES[name]().eval()
    errors = assert_equivariant(module, **EXPLICIT_IRREPS.get(name, {}))
    assert errors and all(float(error.max()) < 1e-3 for error in errors.values())


def test_compile_mode_marks_classes_as_e3nns_decorator():
    @compile_mode("trace")
    class Mine(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    assert e3nn_get_compile_mode(Mine()) == get_compile_mode(Mine()) == "trace"
    assert get_compile_mode(torch.nn.Identity()) is None
    with pytest.raises(e3core.ArgumentError, match="compile_mode: mode is 'jit'"):
        compile_mode("jit")
    with pytest.raises(TypeError, match="subclasses of torch.nn.Module"):
        compile_mode("script")(int)


@pytest.fixture
def restore_optimization_defaults():
    import e3nn

    saved = e3nn.get_optimization_defaults(), e3core.get_optimization_defaults()
    yield
    e3nn.set_optimization_defaults(**saved[0])
    e3core.set_optimization_defaults(**saved[1])


def test_optimization_defaults_as_e3nns(restore_optimization_defaults):
    import e3nn

    assert e3core.get_optimization_defaults() == e3nn.get_optimization_defaults()
    for settings in (
        {"jit_mode": "script"},
        {"jit_script_fx": False},
        {"jit_script_fx": True},
        {"jit_mode": "inductor"},
        {"jit_script_fx": True},
        {"specialized_code": False, "optimize_einsums": False},
    ):
        e3nn.set_optimization_defaults(**settings)
        e3core.set_optimization_defaults(**settings)
        assert e3core.get_optimization_defaults() == e3nn.get_optimization_defaults(), settings
    for bad in ({"fast": True}, {"jit_mode": "trace"}):
        theirs = raised(lambda bad=bad: e3nn.set_optimization_defaults(**bad))
        ours = raised(lambda bad=bad: e3core.set_optimization_defaults(**bad))
        assert isinstance(ours, type(theirs)) and isinstance(ours, e3core.ArgumentError)
    assert e3core.util.jit.get_optimization_defaults is e3core.get_optimization_defaults


class _Scaled(torch.nn.Module):
    """A traced module of irreps (for the tracing helpers)."""

    def __init__(self) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps("2x0e+1x1o")
        self.irreps_out = self.irreps_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


def test_compile_by_the_children_modes():
    from e3core.util import jit
    from e3nn.util import jit as e3nn_jit

    traced_cls = compile_mode("trace")(type("Traced", (_Scaled,), {}))
    block = torch.nn.Sequential(traced_cls(), o3.Linear("2x0e+1x1o", "3x0e+1x1o"), torch.nn.Tanh())
    x = torch.randn(4, 5)
    want = block(x)
    for compiler in (jit.compile, e3nn_jit.compile):
        compiled = compiler(copy.deepcopy(block))
        assert isinstance(compiled[0], torch.jit.TracedModule)
        assert isinstance(compiled[1], torch.jit.RecursiveScriptModule)
        assert isinstance(compiled[2], torch.nn.Tanh)
        torch.testing.assert_close(compiled(x), want)
    unsupported = compile_mode("unsupported")(type("Unsupported", (_Scaled,), {}))
    with pytest.raises(NotImplementedError, match="does not support TorchScript"):
        jit.compile(unsupported())


def test_script_trace_and_their_inputs():
    from e3core.util import jit

    norm = o3.Norm("2x1o")
    x = torch.randn(3, 6)
    assert isinstance(jit.script(norm), torch.jit.ScriptModule)
    assert get_compile_mode(norm) == "script"
    with pytest.warns(UserWarning, match="compiling it with 'trace'"):
        traced = jit.trace(norm, (x,), [(torch.randn(2, 6),)])
    torch.testing.assert_close(traced(x), norm(x))
    assert get_compile_mode(norm) == "script" and not hasattr(norm, "_make_tracing_inputs")
    with pytest.warns(UserWarning):
        traced = jit.trace_module(norm)
    torch.testing.assert_close(traced(x), norm(x))
    tp = o3.FullyConnectedTensorProduct("2x0e", "1x1o", "2x1o").double()
    inputs = jit.get_tracing_inputs(tp, 3)
    assert len(inputs) == 3
    assert [tuple(a.shape[1:]) for a in inputs[0]["forward"]] == [(2,), (3,)]
    assert all(a.dtype == torch.float64 for a in inputs[0]["forward"])


def test_disable_e3nn_codegen(restore_optimization_defaults):
    from e3core.util import jit

    e3core.set_optimization_defaults(jit_mode="script")
    with jit.disable_e3nn_codegen():
        assert e3core.get_optimization_defaults()["jit_script_fx"] is False
        assert e3core.get_optimization_defaults()["jit_mode"] == "eager"
    assert e3core.get_optimization_defaults()["jit_mode"] == "script"
    assert e3core.get_optimization_defaults()["jit_script_fx"] is True
