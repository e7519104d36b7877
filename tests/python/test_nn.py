"""e3core.nn and e3core.o3.Norm: parity with e3nn 0.6 (outputs, gradients, state_dicts),
equivariance, TorchScript / torch.compile / torch.export round trips, errors; and the docstring
examples of e3core.nn, e3core.math and o3.Norm."""

import copy

import e3core
import e3nn
import e3nn.nn  # noqa: F401  (e3nn.nn is not imported by `import e3nn`)
import pytest
import torch
import torch.nn.functional as F
from e3core import o3
from e3core.o3._norm import irrep_copy_index
from torch.utils._python_dispatch import TorchDispatchMode

DTYPES = [torch.float32, torch.float64]
# e3nn computes the gate and norm products with Clebsch-Gordan coefficients (sqrt(2l+1) times
# 1/sqrt(2l+1)), e3core directly: they differ by rounding only.
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}


# Each case builds the same module from e3nn (lib=e3nn) or e3core (lib=e3core), and says its
# input irreps, whether it runs in training mode and whether it is equivariant (FullyConnectedNet
# acts on plain scalar vectors).
CASES = {
    "activation": (
        lambda lib: lib.nn.Activation("4x0e+3x0o+2x1o+2x0o", [F.silu, torch.abs, None, torch.tanh]),
        "4x0e+3x0o+2x1o+2x0o",
    ),
    "activation_odd": (lambda lib: lib.nn.Activation("5x0o", [torch.tanh]), "5x0o"),
    "fc": (lambda lib: lib.nn.FullyConnectedNet([5, 7, 3], torch.tanh), None),
    "fc_out_act": (
        lambda lib: lib.nn.FullyConnectedNet([4, 6, 6, 2], F.silu, 2, 3, out_act=True),
        None,
    ),
    "fc_linear": (lambda lib: lib.nn.FullyConnectedNet([3, 2]), None),
    "gate": (
        lambda lib: lib.nn.Gate(
            "3x0e+2x0o",
            [torch.relu, torch.tanh],
            "2x0e+3x0o",
            [torch.sigmoid, torch.tanh],
            "2x1o+1x2e+2x1e",
        ),
        None,
    ),
    "gate_scalars_gated": (
        lambda lib: lib.nn.Gate("2x0e", [F.silu], "3x0e", [torch.sigmoid], "2x0e+1x1o"),
        None,
    ),
    "gate_split": (
        lambda lib: lib.nn.Gate("", [], "2x0e+2x0o", [torch.sigmoid, torch.tanh], "3x1o+1x3e"),
        None,
    ),
    "gate_no_gates": (lambda lib: lib.nn.Gate("4x0e+1x0o", [torch.relu, None], "", [], ""), None),
    # Scalars and gates sharing an activation (NequIP's): activated in one run.
    "gate_shared_act": (
        lambda lib: lib.nn.Gate(
            "3x0e+2x0o", [F.silu, torch.tanh], "2x0e+1x0e", [F.silu, F.silu], "2x1o+1x1e"
        ),
        None,
    ),
    "norm": (lambda lib: lib.o3.Norm("2x0e+3x1o+2x2e+1x1o"), None),
    "norm_squared": (lambda lib: lib.o3.Norm("2x0o+2x1e+1x3o", squared=True), None),
    "norm_activation": (
        lambda lib: lib.nn.NormActivation(lib.o3.Irreps("2x0e+3x1o+1x2e"), torch.sigmoid),
        None,
    ),
    "norm_activation_bias": (
        lambda lib: lib.nn.NormActivation(
            lib.o3.Irreps("2x0e+3x1o+1x2e"), F.softplus, epsilon=0.5, bias=True
        ),
        None,
    ),
    "batchnorm": (lambda lib: lib.nn.BatchNorm("3x0e+2x1o+1x2e+1x0o"), None),
    "batchnorm_eval": (lambda lib: lib.nn.BatchNorm("3x0e+2x1o+1x2e").eval(), None),
    "batchnorm_instance": (
        lambda lib: lib.nn.BatchNorm("2x0e+2x1o", instance=True, reduce="max"),
        None,
    ),
    "batchnorm_norm": (
        lambda lib: lib.nn.BatchNorm("2x0e+2x1e", affine=False, normalization="norm", momentum=0.3),
        None,
    ),
    "batchnorm_no_bias": (lambda lib: lib.nn.BatchNorm("2x0e+1x1o", include_bias=False), None),
    "dropout": (lambda lib: lib.nn.Dropout("2x0e+3x1o+1x2e", 0.4), None),
    "extract": (
        lambda lib: lib.nn.Extract(
            "1e+0e+2x0o+1o", ["0e+1o", "1e", "2x0o+0e"], [(1, 3), (0,), (2, 1)]
        ),
        None,
    ),
    "extract_ir": (lambda lib: lib.nn.ExtractIr("0e+1o+2x0e+3x1o", "1o"), None),
}
NOT_EQUIVARIANT = {"fc", "fc_out_act", "fc_linear"}  # plain MLPs on scalar vectors
TRAINING = {"batchnorm", "batchnorm_instance", "batchnorm_norm", "batchnorm_no_bias", "dropout"}


def build(name, lib):
    module = CASES[name][0](lib)
    return module.train(name in TRAINING)


def irreps_in(module):
    """The input irreps (FullyConnectedNet: hs[0] scalars)."""
    if hasattr(module, "hs"):
        return o3.Irreps(f"{module.hs[0]}x0e")
    return o3.Irreps(module.irreps_in if hasattr(module, "irreps_in") else module.irreps)


def irreps_outs(module):
    if hasattr(module, "irreps_outs") and not hasattr(module, "irreps_out"):
        return [o3.Irreps(irreps) for irreps in module.irreps_outs]
    if hasattr(module, "hs"):
        return [o3.Irreps(f"{module.hs[-1]}x0e")]
    return [o3.Irreps(module.irreps_out if hasattr(module, "irreps_out") else module.irreps)]


def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def make_input(module, dtype, batch=6, generator=None):
    # BatchNorm and Dropout take (batch, ..., dim): give them a middle dimension too.
    middle = (3,) if isinstance(module, (e3core.nn.BatchNorm, e3core.nn.Dropout)) else ()
    dim = irreps_in(module).dim
    return torch.randn(batch, *middle, dim, dtype=dtype, generator=generator)


def run(module, x, seed=0):
    """Outputs of module(x); the seed fixes Dropout's masks."""
    torch.manual_seed(seed)
    return as_tuple(module(x))


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    """The test's dtype; float64 is also made the default while the test builds e3nn modules,
    whose Clebsch-Gordan buffers and constants are created in the default dtype."""
    saved = torch.get_default_dtype()
    if request.param == torch.float64:
        torch.set_default_dtype(torch.float64)
    yield request.param
    torch.set_default_dtype(saved)


@pytest.mark.parametrize("name", CASES)
def test_matches_e3nn(name, dtype):
    torch.manual_seed(0)
    ref = build(name, e3nn).to(dtype)
    with torch.no_grad():  # non-trivial parameters and statistics, so that loading matters
        for key, t in ref.state_dict().items():
            if not key.endswith("output_mask"):
                t.copy_(torch.rand_like(t) + 0.5)
    ours = build(name, e3core).to(dtype)
    ours.load_state_dict(ref.state_dict())  # strict: same names and shapes
    assert [str(i) for i in irreps_outs(ours)] == [str(i) for i in irreps_outs(ref)]
    assert str(irreps_in(ours)) == str(irreps_in(ref))
    if not name.startswith(("extract", "norm_activation")):  # e3nn prints its submodules there
        assert repr(ours) == repr(ref)

    x = make_input(ours, dtype)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_ref = run(ours, x_ours), run(ref, x_ref)
    assert len(out_ours) == len(out_ref)
    for a, b in zip(out_ours, out_ref, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
    weights = [torch.randn_like(o) for o in out_ref]
    loss = [
        sum((o * w).sum() for o, w in zip(out, weights, strict=True)) for out in (out_ours, out_ref)
    ]
    params_ours, params_ref = list(ours.parameters()), list(ref.parameters())
    grads_ours = torch.autograd.grad(loss[0], [x_ours, *params_ours], allow_unused=True)
    grads_ref = torch.autograd.grad(loss[1], [x_ref, *params_ref], allow_unused=True)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[dtype])
    reference_state = ref.state_dict()
    for key, a in ours.state_dict().items():  # running statistics after a training step
        torch.testing.assert_close(a, reference_state[key], **TOL[dtype])


@pytest.mark.parametrize("name", [n for n in CASES if n not in NOT_EQUIVARIANT])
@pytest.mark.parametrize("parity", [1, -1], ids=["rotation", "rotation+inversion"])
def test_equivariance(name, parity):
    torch.manual_seed(1)
    module = build(name, e3core).to(torch.float64)
    R = parity * o3.rand_matrix(dtype=torch.float64)
    x = make_input(module, torch.float64)
    rotated_in = x @ irreps_in(module).D_from_matrix(R).T
    outs = run(copy.deepcopy(module), x)
    outs_of_rotated = run(copy.deepcopy(module), rotated_in)
    for out, out_of_rotated, irreps in zip(outs, outs_of_rotated, irreps_outs(module), strict=True):
        torch.testing.assert_close(out_of_rotated, out @ irreps.D_from_matrix(R).T)


def test_parity_change_is_tested():
    # The inversion case above can fail: an odd gate flips the gated parity, and the output
    # irreps say so. Labelling the output with the gated irreps instead breaks equivariance.
    gate = e3core.nn.Gate("", [], "1x0o", [torch.tanh], "1x1o").to(torch.float64)
    assert str(gate.irreps_out) == "1x1e"
    x = torch.randn(4, 4, dtype=torch.float64)
    minus = -torch.eye(3, dtype=torch.float64)
    out_of_inverted = gate(x @ gate.irreps_in.D_from_matrix(minus).T)
    wrong = gate(x) @ o3.Irreps("1x1o").D_from_matrix(minus).T
    assert not torch.allclose(out_of_inverted, wrong)


class _Calls(TorchDispatchMode):
    """Appends the name of every operator dispatched while it is active to ``calls``."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(str(func))
        return func(*args, **(kwargs or {}))


def test_gate_activates_each_run_of_one_activation_once():
    """NequIP's gate (even scalars and gates all SiLU, odd scalars tanh): two activation calls,
    where per-part activations made three, and the same values as e3nn's Gate."""
    calls = []
    args = ("4x0e+2x0o", [F.silu, torch.tanh], "3x0e", [F.silu], "2x1o+1x1e")
    gate, ref = e3core.nn.Gate(*args), e3nn.nn.Gate(*args)
    x = gate.irreps_in.randn(6, -1)
    with _Calls(calls):
        out = gate(x)
    assert calls.count("e3core.silu.default") == 1
    assert calls.count("aten.tanh.default") == 1
    torch.testing.assert_close(out, ref(x))


def test_gate_splits_instead_of_slicing():
    """The gate takes its pieces of the input by splits, whose backward is one concatenation,
    not by slices, whose backward is a zero-filled copy of the whole input per slice. Its values
    and first and second derivatives stay e3nn's, the gated irreps in their own order (not the
    input's)."""
    calls = []
    args = ("4x0e+2x0o", [F.silu, torch.tanh], "3x0e", [F.silu], "1x1e+2x1o")
    gate, ref = e3core.nn.Gate(*args), e3nn.nn.Gate(*args)
    x = gate.irreps_in.randn(6, -1, requires_grad=True)
    with _Calls(calls):
        out = gate(x)
    assert "aten.split_with_sizes.default" in calls
    assert "aten.slice.Tensor" not in calls
    calls.clear()
    with _Calls(calls):
        (grad,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    assert "aten.slice_backward.default" not in calls
    (grad2,) = torch.autograd.grad(grad.square().sum(), x)
    x_ref = x.detach().requires_grad_(True)
    out_ref = ref(x_ref)
    (grad_ref,) = torch.autograd.grad(out_ref.square().sum(), x_ref, create_graph=True)
    (grad2_ref,) = torch.autograd.grad(grad_ref.square().sum(), x_ref)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(grad, grad_ref)
    torch.testing.assert_close(grad2, grad2_ref)


def test_gate_multiply_equals_e3nn_elementwise_product(dtype):
    """The gating multiply is e3nn's ElementwiseTensorProduct with a scalar factor."""
    gated = o3.Irreps("3x0e+2x1o+1x2e+2x3o+1x4e+1x1e")
    gates = o3.Irreps(f"{gated.num_irreps - 3}x0e+3x0o")
    torch.manual_seed(2)
    x, g = gated.randn(5, -1, dtype=dtype), gates.randn(5, -1, dtype=dtype)
    ref = e3nn.o3.ElementwiseTensorProduct(gated, gates).to(dtype)(x, g)
    torch.testing.assert_close(x * g.index_select(-1, irrep_copy_index(gated)), ref, **TOL[dtype])


@pytest.mark.parametrize("squared", [False, True])
def test_norm_gradient_at_zero_like_e3nn(squared):
    irreps = "2x1o+0e+1x2e"
    x = torch.zeros(3, 12, dtype=torch.float64)
    x[0] = torch.randn(12)  # one sample away from zero
    grads = []
    for lib in (e3core, e3nn):
        xr = x.clone().requires_grad_()
        lib.o3.Norm(irreps, squared=squared).to(torch.float64)(xr).sum().backward()
        grads.append(xr.grad)
    assert torch.isfinite(grads[0]).all()
    assert grads[0][1:].abs().max() == 0
    torch.testing.assert_close(grads[0], grads[1])


def test_norm_activation_zero_input_and_normalize_false():
    irreps = o3.Irreps("2x0e+1x1o")
    x = torch.zeros(2, 5, requires_grad=True)
    out = e3core.nn.NormActivation(irreps, torch.sigmoid)(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    # normalize=False crashes in e3nn 0.6; here it scales each irrep by sigma(|x|).
    x = irreps.randn(4, -1)
    out = e3core.nn.NormActivation(irreps, torch.sigmoid, normalize=False)(x)
    norms = e3core.o3.Norm(irreps)(x)
    torch.testing.assert_close(out, x * torch.sigmoid(norms)[:, [0, 1, 2, 2, 2]])


@pytest.mark.parametrize(
    "irreps, acts",
    [
        ("2x0o", [torch.abs]),
        ("2x0o", [torch.tanh]),
        ("2x0o", [torch.cos]),
        ("3x0e+1x0o+1x2e", [torch.relu, torch.sin, None]),
        ("3x0e", [F.gelu]),
    ],
)
def test_activation_parity_and_constants_match_e3nn(irreps, acts):
    ours, ref = e3core.nn.Activation(irreps, acts), e3nn.nn.Activation(irreps, acts)
    assert str(ours.irreps_out) == str(ref.irreps_out)
    for a, b in zip(ours.acts, ref.acts, strict=True):
        if b is not None:
            assert (a.cst, a._is_id) == (b.cst, b._is_id)


def test_dropout_masks_whole_copies_and_eval_is_identity():
    module = e3core.nn.Dropout("4x0e+5x1o+2x2e", 0.5)
    x = torch.ones(64, 2, module.irreps.dim)
    y = module(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}
    per_copy = y[..., 4:19].reshape(64, 2, 5, 3)
    assert (per_copy == per_copy[..., :1]).all()  # a vector is kept or dropped whole
    assert (y[:, 0] == y[:, 1]).all()  # the same mask for every middle index
    assert module.eval()(x) is x


def script_round_trip(module, tmp_path):
    path = tmp_path / "module.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    return torch.jit.load(str(path))


def compiled(module, tmp_path):
    return torch.compile(module, fullgraph=True, backend="aot_eager")


def exported(module, tmp_path):
    x = make_input(module, torch.float32, batch=5)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (x,), dynamic_shapes=({0: batch},))
    path = tmp_path / "module.pt2"
    torch.export.save(program, str(path))
    return torch.export.load(str(path)).module()


@pytest.mark.parametrize("frontend", [script_round_trip, compiled, exported])
@pytest.mark.parametrize("name", CASES)
def test_frontends(name, frontend, tmp_path):
    torch.manual_seed(3)
    module = build(name, e3core)
    transformed = frontend(copy.deepcopy(module), tmp_path)
    reference = copy.deepcopy(module)
    for batch in (7, 2):  # a batch size the export did not see, then a second step
        x = make_input(module, torch.float32, batch=batch)
        xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
        expected, got = run(reference, xs[0], seed=batch), run(transformed, xs[1], seed=batch)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b)
        sum(o.sum() for o in expected).backward()
        sum(o.sum() for o in got).backward()
        torch.testing.assert_close(xs[1].grad, xs[0].grad)
    if frontend is not exported:  # exported programs keep their own copy of the buffers
        state = {k.removeprefix("_orig_mod."): v for k, v in transformed.state_dict().items()}
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(state[key], value)


def test_compile_inductor_gate():
    gate = e3core.nn.Gate("4x0e", [F.silu], "2x0e", [torch.sigmoid], "1x1o+1x2e")
    x = torch.randn(9, gate.irreps_in.dim)
    torch.testing.assert_close(torch.compile(gate, fullgraph=True)(x), gate(x))


def test_e3nn_state_dict_loads_strictly_and_keeps_caller_dict():
    ref = e3nn.nn.NormActivation(e3nn.o3.Irreps("2x1o+0e"), torch.sigmoid, bias=True)
    state = ref.state_dict()
    keys = list(state)
    module = e3core.nn.NormActivation("2x1o+0e", torch.sigmoid, bias=True)
    module.load_state_dict(state)
    assert list(state) == keys  # the e3nn-only entries are skipped, not removed
    assert list(module.state_dict()) == ["biases"]
    with pytest.raises(RuntimeError, match="Unexpected key"):
        module.load_state_dict({**state, "norm.tp.weight": torch.ones(2)})  # not e3nn's empty one


def with_columns(module, columns):
    return lambda: module(torch.zeros(2, columns))


@pytest.mark.parametrize(
    "fn, match",
    [
        (
            with_columns(e3core.nn.Gate("8x0e", [torch.relu], "2x0e", [torch.tanh], "2x1o"), 12),
            "Gate: input has 12 columns but irreps_in.dim = 16",
        ),
        (
            with_columns(e3core.nn.Activation("3x0e", [torch.tanh]), 4),
            "Activation: input has 4 columns but irreps_in.dim = 3",
        ),
        (
            lambda: e3core.nn.Activation("3x0e", [torch.tanh])(torch.zeros(2, 3), dim=0),
            "Activation: input has size 2 in dim 0 but irreps_in.dim = 3",
        ),
        (
            with_columns(e3core.nn.FullyConnectedNet([4, 2]), 5),
            r"FullyConnectedNet: input has 5 columns but hs\[0\] = 4",
        ),
        (with_columns(e3core.o3.Norm("1o"), 2), "Norm: input has 2 columns but irreps_in.dim = 3"),
        (
            with_columns(e3core.nn.NormActivation("1o", torch.tanh), 4),
            "NormActivation: input has 4 columns",
        ),
        (with_columns(e3core.nn.BatchNorm("2x0e"), 3), "BatchNorm: input has 3 columns"),
        (
            lambda: e3core.nn.BatchNorm("2x0e")(torch.zeros(2)),
            r"BatchNorm: input has shape \[2\], expected \(batch, ..., irreps.dim\)",
        ),
        (with_columns(e3core.nn.Dropout("2x0e", 0.1), 3), "Dropout: input has 3 columns"),
        (with_columns(e3core.nn.Extract("2x0e", ["2x0e"], [(0,)]), 3), "Extract: input has 3"),
        (with_columns(e3core.nn.ExtractIr("2x0e", "0e"), 1), "ExtractIr: input has 1 columns"),
        (lambda: e3core.o3.Norm("1o")(torch.tensor(1.0)), "Norm: input is 0-dimensional"),
        (
            lambda: e3core.nn.Gate("1x1o", [None], "", [], ""),
            "Gate: irreps_scalars must hold scalars \\(l = 0\\) only, got 1x1o",
        ),
        (
            lambda: e3core.nn.Gate("", [], "2x0e+1x1e", [None, None], "2x1o"),
            "Gate: irreps_gates must hold scalars",
        ),
        (
            lambda: e3core.nn.Gate("", [], "3x0e", [torch.tanh], "2x1o"),
            "Gate: irreps_gates 3x0e has 3 gate scalars but irreps_gated 2x1o has 2 irreps",
        ),
        (
            lambda: e3core.nn.Gate("2x0e", [], "", [], ""),
            "Gate: act_scalars has 0 entries but its irreps 2x0e have 1 terms",
        ),
        (
            lambda: e3core.nn.Activation("2x0e+1o", [torch.tanh]),
            "Activation: irreps_in 2x0e\\+1x1o has 2 terms but acts has 1 entries",
        ),
        (
            lambda: e3core.nn.Activation("1o", [torch.tanh]),
            "Activation: acts gives a function for 1x1o, but only scalars",
        ),
        (lambda: e3core.nn.Activation("0o", [torch.relu]), "the parity is violated"),
        (lambda: e3core.nn.BatchNorm("0e", reduce="sum"), "BatchNorm: reduce is 'sum'"),
        (
            lambda: e3core.nn.BatchNorm("0e", normalization="integral"),
            "BatchNorm: normalization is 'integral'",
        ),
        (
            lambda: e3core.nn.NormActivation("1o", torch.tanh, normalize=False, epsilon=0.1),
            "NormActivation: epsilon is only used with normalize=True",
        ),
        (
            lambda: e3core.nn.NormActivation("1o", torch.tanh, epsilon=0.0),
            "NormActivation: epsilon must be strictly positive, got 0.0",
        ),
        (lambda: e3core.nn.FullyConnectedNet([]), "FullyConnectedNet: hs must be a non-empty"),
        (
            lambda: e3core.nn.Extract("0e+1o", ["0e", "1o"], [(0,)]),
            "Extract: 2 irreps_outs but 1 instructions",
        ),
        (
            lambda: e3core.nn.Extract("0e+1o", ["0e+0e"], [(0,)]),
            r"Extract: instruction \(0,\) has 1 input terms but irreps_out 1x0e\+1x0e has 2",
        ),
        (
            lambda: e3core.nn.Extract("0e+1o", ["1o"], [(0,)]),
            r"Extract: output term 1x1o cannot hold input term 0 \(1x0e\)",
        ),
        (
            lambda: e3core.nn.Extract("0e+1o", ["1o"], [(2,)]),
            "Extract: instruction index 2 is out of range",
        ),
    ],
)
def test_errors_name_the_argument(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_scripted_module_reports_wrong_size():
    scripted = torch.jit.script(e3core.nn.Gate("2x0e", [torch.relu], "1x0e", [None], "1x1o"))
    with pytest.raises(Exception, match="Gate: input has 5 columns but irreps_in.dim = 6"):
        scripted(torch.zeros(1, 5))
