"""e3core.from_e3nn: each supported e3nn module becomes e3core's with the same outputs and
gradients (float32 and float64); a NequIP-like model inside custom modules and a Sequential gives
e3nn's energies, forces and force-training gradients, also under TorchScript; the original is left
unchanged; state, placement and sharing carry over; unsupported modules raise."""

import copy
import warnings

import e3nn.nn
import e3nn.o3
import e3nn.util.codegen
import pytest
import torch
import torch.nn.functional as F
from e3core import from_e3nn, nn, o3

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request):
    """Makes the test's dtype the default while e3nn modules are built (their buffers and
    constants follow it), and restores the default."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(saved)


def _tensor_product():
    # Every connection mode but the two of TensorSquare (tested there), path weights,
    # variances and non-default normalizations.
    instructions = [
        (0, 0, 0, "uvw", True, 0.7),
        (1, 1, 0, "uuw", True, 1.3),
        (0, 0, 0, "uuu", False),
        (0, 1, 1, "uvw", True, 2.0),
        (2, 1, 1, "uvw", True),
        (1, 1, 2, "uuu", True, 0.5),
        (1, 1, 2, "uvu", True),
        (1, 1, 3, "uvv", True, 3.0),
        (0, 0, 4, "uvuv", True),
    ]
    return e3nn.o3.TensorProduct(
        "2x0e+2x1o+1x2e",
        "2x0e+2x1o",
        "2x0e+3x1o+2x1e+2x2e+4x0e",
        instructions,
        in1_var=[1.0, 2.0, 0.5],
        in2_var=[0.3, 1.5],
        out_var=[1.0, 2.0, 1.0, 0.5, 3.0],
        irrep_normalization="norm",
        path_normalization="path",
    )


def _per_sample_tensor_product():
    instructions = [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True)]
    return e3nn.o3.TensorProduct(
        "2x0e+2x1o", "1x0e+1x1o", "2x0e+2x1o", instructions, shared_weights=False
    )


def _input_shapes(m, batch=5):
    """Shapes of the module's inputs; BatchNorm and Dropout get a middle dimension, to check
    that they reduce over it as e3nn does."""
    if isinstance(m, e3nn.o3.TensorSquare):
        dims = [m.irreps_in.dim]
    elif isinstance(m, (e3nn.o3.TensorProduct, e3nn.o3.Linear)):
        irreps = [m.irreps_in1, m.irreps_in2] if hasattr(m, "irreps_in1") else [m.irreps_in]
        shapes = [(batch, irreps.dim) for irreps in irreps]
        if not m.internal_weights:
            shapes.append((m.weight_numel,) if m.shared_weights else (batch, m.weight_numel))
        return shapes
    elif isinstance(m, e3nn.o3.SphericalHarmonics):
        dims = [3]
    elif isinstance(m, e3nn.nn.FullyConnectedNet):
        dims = [m.hs[0]]
    elif isinstance(m, (e3nn.nn.BatchNorm, e3nn.nn.Dropout)):
        return [(batch, 3, m.irreps.dim)]
    else:
        dims = [m.irreps_in.dim]
    return [(batch, d) for d in dims]


# name: (the e3core class it becomes, a builder of the e3nn module)
CASES = {
    "tensor_product": (o3.TensorProduct, _tensor_product),
    "tensor_product_per_sample_weights": (o3.TensorProduct, _per_sample_tensor_product),
    "fully_connected": (
        o3.FullyConnectedTensorProduct,
        lambda: e3nn.o3.FullyConnectedTensorProduct(
            "2x0e+2x1o+1x2e",
            "1x0e+1x1o",
            "3x0e+2x1o+1x1e+1x2e",
            irrep_normalization="norm",
            path_normalization="path",
        ),
    ),
    "fully_connected_external_weights": (
        o3.FullyConnectedTensorProduct,
        lambda: e3nn.o3.FullyConnectedTensorProduct(
            "2x0e+1x1o", "1x1o", "2x1o+1x0e", internal_weights=False, path_normalization="none"
        ),
    ),
    # in1_var/out_var are not kept by e3nn: a plain TensorProduct with e3nn's coefficients.
    "fully_connected_variances": (
        o3.TensorProduct,
        lambda: e3nn.o3.FullyConnectedTensorProduct(
            "2x0e+1x1o", "1x0e+1x1o", "2x0e+2x1o", in1_var=[2.0, 0.5], out_var=[1.0, 3.0]
        ),
    ),
    "full": (
        o3.FullTensorProduct,
        lambda: e3nn.o3.FullTensorProduct(
            "2x0e+1x1o+1x2e", "1x1o+2x0o", filter_ir_out=["0e", "1o", "1e", "2o", "0o"]
        ),
    ),
    "elementwise": (
        o3.ElementwiseTensorProduct,
        lambda: e3nn.o3.ElementwiseTensorProduct(
            "3x0e+2x1o", "1x1e+4x0o", irrep_normalization="norm"
        ),
    ),
    "square": (o3.TensorSquare, lambda: e3nn.o3.TensorSquare("2x0e+3x1o+1x2e")),
    "square_filtered": (
        o3.TensorSquare,
        lambda: e3nn.o3.TensorSquare("3x1o+2x0e", filter_ir_out=["0e", "2e"]),
    ),
    "square_weighted": (
        o3.TensorSquare,
        lambda: e3nn.o3.TensorSquare(
            "2x0e+2x1o", "3x0e+2x1e+1x2e", irrep_normalization="norm", path_normalization="path"
        ),
    ),
    "linear": (
        o3.Linear,
        lambda: e3nn.o3.Linear(
            "3x0e+2x1o+1x2e+2x0e", "2x0e+3x1o+1x2e+1x0e", biases=True, path_normalization="path"
        ),
    ),
    "linear_instructions": (
        o3.Linear,
        lambda: e3nn.o3.Linear(
            "3x0e+2x1o+2x0e",
            "2x0e+3x1o+1x0e",
            instructions=[(0, 0), (2, 0), (1, 1), (2, 2)],
            biases=[False, False, True],
        ),
    ),
    "linear_per_sample_weights": (
        o3.Linear,
        lambda: e3nn.o3.Linear("3x0e+2x1o", "2x0e+1x1o", shared_weights=False),
    ),
    "spherical_harmonics": (
        o3.SphericalHarmonics,
        lambda: e3nn.o3.SphericalHarmonics("0e+1o+2e", True, normalization="component"),
    ),
    "spherical_harmonics_pseudovector": (
        o3.SphericalHarmonics,
        lambda: e3nn.o3.SphericalHarmonics([0, 2, 3], False, "norm", irreps_in="1e"),
    ),
    "norm": (o3.Norm, lambda: e3nn.o3.Norm("2x0e+3x1o+1x2e")),
    "norm_squared": (o3.Norm, lambda: e3nn.o3.Norm("2x1e+1x3o", squared=True)),
    "activation": (
        nn.Activation,
        lambda: e3nn.nn.Activation("4x0e+3x0o+2x1o+2x0o", [F.silu, torch.abs, None, torch.tanh]),
    ),
    "gate": (
        nn.Gate,
        lambda: e3nn.nn.Gate(
            "3x0e+2x0o",
            [F.silu, torch.tanh],
            "2x0e+2x0o",
            [torch.sigmoid, torch.tanh],
            "2x1o+1x1e+1x2e",
        ),
    ),
    "norm_activation": (
        nn.NormActivation,
        lambda: e3nn.nn.NormActivation(
            e3nn.o3.Irreps("2x1o+3x0e+1x2e"), F.softplus, epsilon=1e-3, bias=True
        ),
    ),
    "fully_connected_net": (
        nn.FullyConnectedNet,
        lambda: e3nn.nn.FullyConnectedNet([5, 8, 8, 3], F.silu, 2.0, 3.0, out_act=True),
    ),
    "fully_connected_net_linear": (
        nn.FullyConnectedNet,
        lambda: e3nn.nn.FullyConnectedNet([4, 3], variance_out=2.0),
    ),
    "batchnorm": (
        nn.BatchNorm,
        lambda: e3nn.nn.BatchNorm(
            "3x0e+2x1o+1x2e", momentum=0.3, reduce="max", normalization="norm"
        ),
    ),
    "batchnorm_eval": (nn.BatchNorm, lambda: e3nn.nn.BatchNorm("3x0e+2x1o", eps=0.1).eval()),
    "batchnorm_instance": (
        nn.BatchNorm,
        lambda: e3nn.nn.BatchNorm("2x0e+2x1o", instance=True, include_bias=False),
    ),
    "dropout": (nn.Dropout, lambda: e3nn.nn.Dropout("3x0e+2x1o", 0.4)),
    "dropout_eval": (nn.Dropout, lambda: e3nn.nn.Dropout("3x0e+2x1o", 0.4).eval()),
    "extract": (
        nn.Extract,
        lambda: e3nn.nn.Extract("1e+0e+2x0o+1o", ["0e+1o", "2x0o+0e"], [(1, 3), (2, 1)]),
    ),
    "extract_squeezed": (
        nn.Extract,
        lambda: e3nn.nn.Extract("1e+0e+1o", ["1o+0e"], [(2, 1)], squeeze_out=True),
    ),
    "extract_one_tuple": (nn.Extract, lambda: e3nn.nn.Extract("1e+0e+1o", ["0e"], [(1,)])),
    "extract_ir": (nn.ExtractIr, lambda: e3nn.nn.ExtractIr("0e+1o+2x0e+3x1o", "1o")),
    "extract_ir_absent": (nn.ExtractIr, lambda: e3nn.nn.ExtractIr("0e+1o", "2e")),
}


def randomize(module, seed=0):
    """Random parameters (and running statistics), set through the e3nn module's tensors."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
        for name, b in module.named_buffers():
            if name.startswith("running_"):
                b.copy_(torch.rand(b.shape, generator=generator, dtype=b.dtype) + 0.5)
    return module


def outputs_and_grads(module, inputs, seed=1):
    """Outputs, and the gradients of a fixed random projection of them with respect to the
    inputs and the parameters (by name); the seed fixes Dropout's masks."""
    inputs = [x.detach().clone().requires_grad_() for x in inputs]
    torch.manual_seed(seed)
    out = module(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    generator = torch.Generator().manual_seed(2)
    cotangents = [torch.randn(o.shape, generator=generator, dtype=o.dtype) for o in outs]
    loss = sum((o * c).sum() for o, c in zip(outs, cotangents, strict=True))
    names = [name for name, _ in module.named_parameters()]
    params = [p for _, p in module.named_parameters()]
    # An empty output (ExtractIr of an absent irrep) depends on nothing.
    grads = (
        torch.autograd.grad(loss, inputs + params, allow_unused=True)
        if loss.requires_grad
        else [None] * (len(inputs) + len(params))
    )
    return out, outs, grads[: len(inputs)], dict(zip(names, grads[len(inputs) :], strict=True))


def assert_close_all(actual, expected, dtype):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        if e is None:
            assert a is None or not a.any()
        else:
            # Rounding errors scale with the tensor's largest entries (float32 gradients of
            # magnitude 20 differ from the float64 truth by 2e-5 in e3nn and e3core alike).
            scale = max(1.0, e.abs().max().item()) if e.numel() else 1.0
            tol = TOL[dtype]
            torch.testing.assert_close(a, e, rtol=tol["rtol"], atol=tol["atol"] * scale)


@pytest.mark.parametrize("name", list(CASES))
def test_module_matches_e3nn(name, dtype):
    cls, build = CASES[name]
    original = randomize(build())
    converted = from_e3nn(original)
    assert type(converted) is cls
    assert converted.training == original.training
    generator = torch.Generator().manual_seed(3)
    inputs = [torch.randn(shape, generator=generator) for shape in _input_shapes(original)]
    out, outs, grads, param_grads = outputs_and_grads(original, inputs)
    out_c, outs_c, grads_c, param_grads_c = outputs_and_grads(converted, inputs)
    assert type(out_c) is type(out)  # a tuple stays a tuple, a tensor a tensor
    assert_close_all(outs_c, outs, dtype)
    assert_close_all(grads_c, grads, dtype)
    assert param_grads_c.keys() == param_grads.keys()
    assert_close_all(list(param_grads_c.values()), list(param_grads.values()), dtype)
    # Training-mode BatchNorm updated its running statistics as e3nn's did.
    expected_state = original.state_dict()
    for key, value in converted.state_dict().items():
        torch.testing.assert_close(value, expected_state[key], **TOL[dtype])


@pytest.mark.parametrize(
    "options",
    [{"compile_right": True}, {"_specialized_code": False, "_optimize_einsums": False}],
    ids=["compile_right", "generic_code"],
)
def test_code_generation_options_do_not_matter(options, dtype):
    args = ("2x0e+2x1o", "1x0e+1x1o", "3x0e+1x1o+1x1e")
    special = randomize(e3nn.o3.FullyConnectedTensorProduct(*args, **options))
    converted = from_e3nn(special)
    inputs = [torch.randn(4, 8), torch.randn(4, 4)]
    _, outs, grads, param_grads = outputs_and_grads(special, inputs)
    _, outs_c, grads_c, param_grads_c = outputs_and_grads(converted, inputs)
    assert_close_all(outs_c, outs, dtype)
    assert_close_all(
        grads_c + tuple(param_grads_c.values()), grads + tuple(param_grads.values()), dtype
    )


def test_tensor_product_without_left_right_code():
    """e3nn's forward fails without compile_left_right; the converted product computes it."""
    args = ("2x0e+2x1o", "1x0e+1x1o", "3x0e+1x1o+1x1e")
    special = randomize(
        e3nn.o3.FullyConnectedTensorProduct(*args, compile_left_right=False, compile_right=True)
    )
    reference = e3nn.o3.FullyConnectedTensorProduct(*args)
    with torch.no_grad():
        reference.weight.copy_(special.weight)
    x, y = torch.randn(4, 8), torch.randn(4, 4)
    torch.testing.assert_close(from_e3nn(special)(x, y), reference(x, y), **TOL[torch.float32])


def test_tensor_product_coefficients_are_exactly_e3nn_s():
    """Exactly: a plain TensorProduct's are taken as they are, a subclass's recomputed from the
    normalizations that reproduce them."""
    for original in [_tensor_product(), CASES["fully_connected"][1](), CASES["square"][1]()]:
        converted = from_e3nn(original)
        assert [tuple(i) for i in converted.instructions] == [
            tuple(i) for i in original.instructions
        ]


# --- a NequIP-like model: custom modules holding e3nn modules, in a ModuleList and Sequential ---

GATE = dict(
    irreps_scalars="8x0e",
    act_scalars=[F.silu],
    irreps_gates="4x0e",
    act_gates=[torch.sigmoid],
    irreps_gated="2x1o+2x1e",
)


class Interaction(torch.nn.Module):
    """Messages TP(x_src, Y(r_ij), MLP(|r_ij|)) summed on the destination, then Linear and Gate."""

    num_basis: int
    cutoff: float

    def __init__(self, irreps_in: str, num_basis: int = 6, cutoff: float = 3.0):
        super().__init__()
        irreps_in = e3nn.o3.Irreps(irreps_in)
        irreps_sh = e3nn.o3.Irreps.spherical_harmonics(2)
        self.sh = e3nn.o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
        self.gate = e3nn.nn.Gate(**GATE)
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in [ir for _, ir in self.gate.irreps_in]:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid, p, _ = e3nn.o3.Irreps(mid).sort()
        instructions = [(i, j, p[k], mode, w) for i, j, k, mode, w in instructions]
        self.tp = e3nn.o3.TensorProduct(
            irreps_in, irreps_sh, mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = e3nn.nn.FullyConnectedNet([num_basis, 16, self.tp.weight_numel], F.silu)
        self.linear = e3nn.o3.Linear(mid.simplify(), self.gate.irreps_in)
        self.num_basis = num_basis
        self.cutoff = cutoff

    def forward(self, pos: torch.Tensor, x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor):
        vec = pos[dst] - pos[src]
        centers = torch.linspace(0.0, self.cutoff, self.num_basis, dtype=pos.dtype)
        width = self.cutoff / self.num_basis
        embedding = torch.exp(
            -(((torch.linalg.vector_norm(vec, dim=-1)[:, None] - centers) / width) ** 2)
        )
        messages = self.tp(x[src], self.sh(vec), self.radial(embedding))
        summed = x.new_zeros(x.shape[0], messages.shape[1]).index_add(0, dst, messages)
        return self.gate(self.linear(summed))


class Potential(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(3, 8)
        self.layers = torch.nn.ModuleList([Interaction("8x0e"), Interaction("8x0e+2x1o+2x1e")])
        self.readout = torch.nn.Sequential(
            e3nn.o3.Linear("8x0e+2x1o+2x1e", "4x0e"), torch.nn.SiLU(), torch.nn.Linear(4, 1)
        )

    def forward(
        self, pos: torch.Tensor, species: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
    ):
        x = self.embed(species)
        for layer in self.layers:
            x = layer(pos, x, src, dst)
        return self.readout(x).sum()


def structure(n=6, seed=4):
    generator = torch.Generator().manual_seed(seed)
    pos = 2.0 * torch.rand(n, 3, generator=generator)
    species = F.one_hot(torch.randint(0, 3, (n,), generator=generator), 3).to(pos.dtype)
    src, dst = torch.tensor([(i, j) for i in range(n) for j in range(n) if i != j]).T
    return pos, species, src, dst


def energy_forces_and_training_grads(model, pos, species, src, dst):
    """E, F = -dE/dpos, and the gradients of E^2 + |F|^2 (double backward) by parameter name."""
    pos = pos.clone().requires_grad_()
    energy = model(pos, species, src, dst)
    forces = -torch.autograd.grad(energy, pos, create_graph=True)[0]
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(energy**2 + forces.pow(2).sum(), params)
    return energy, forces, dict(zip(names, grads, strict=True))


def test_nested_model_energies_and_forces(dtype):
    original = randomize(Potential())
    converted = from_e3nn(original)
    assert isinstance(converted, Potential)
    layer = converted.layers[0]
    for child, cls in [
        (layer.sh, o3.SphericalHarmonics),
        (layer.tp, o3.TensorProduct),
        (layer.radial, nn.FullyConnectedNet),
        (layer.gate, nn.Gate),
        (layer.linear, o3.Linear),
        (converted.readout[0], o3.Linear),
        (converted.readout[1], torch.nn.SiLU),
        (converted.embed, torch.nn.Linear),
    ]:
        assert type(child) is cls
    assert not [n for n, m in converted.named_modules() if type(m).__module__.startswith("e3nn")]
    energy, forces, grads = energy_forces_and_training_grads(original, *structure())
    energy_c, forces_c, grads_c = energy_forces_and_training_grads(converted, *structure())
    torch.testing.assert_close(energy_c, energy, **TOL[dtype])
    torch.testing.assert_close(forces_c, forces, **TOL[dtype])
    assert grads_c.keys() == grads.keys()
    assert_close_all(list(grads_c.values()), list(grads.values()), dtype)


def test_original_is_untouched():
    original = randomize(Potential())
    kinds = [(n, type(m)) for n, m in original.named_modules()]
    state = copy.deepcopy(original.state_dict())
    energy = original(*structure())
    converted = from_e3nn(original)
    assert [(n, type(m)) for n, m in original.named_modules()] == kinds
    assert original.state_dict().keys() == state.keys()
    for key, value in original.state_dict().items():
        assert torch.equal(value, state[key]), key
    # The copy owns its tensors: changing them leaves the original as it was.
    with torch.no_grad():
        for p in converted.parameters():
            p.zero_()
    assert torch.equal(original(*structure()), energy)


def test_converted_model_scripts(dtype):
    original = randomize(Potential())
    scripted = torch.jit.script(from_e3nn(original))
    energy, forces, _ = energy_forces_and_training_grads(original, *structure())
    pos, species, src, dst = structure()
    pos.requires_grad_()
    energy_s = scripted(pos, species, src, dst)
    forces_s = -torch.autograd.grad(energy_s, pos)[0]
    torch.testing.assert_close(energy_s, energy, **TOL[dtype])
    torch.testing.assert_close(forces_s, forces, **TOL[dtype])


# --- state, placement, sharing ---


def test_dtype_training_and_requires_grad_carry_over():
    saved = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        original = randomize(
            torch.nn.Sequential(
                e3nn.o3.Linear("4x0e+1x1o", "2x0e+1x1o", biases=True),
                e3nn.nn.BatchNorm("2x0e+1x1o"),
            )
        )
    finally:
        torch.set_default_dtype(saved)
    original[0].bias.requires_grad_(False)
    original[1].eval()
    converted = from_e3nn(original)  # built while the default dtype is float32
    assert {p.dtype for p in converted.parameters()} == {torch.float64}
    assert [p.requires_grad for p in converted.parameters()] == [True, False, True, True]
    assert converted[0].training and not converted[1].training
    x = torch.randn(5, 7, dtype=torch.float64)
    torch.testing.assert_close(converted(x), original(x), **TOL[torch.float64])


def test_shared_modules_stay_shared():
    linear = e3nn.o3.Linear("2x0e+1x1o", "2x0e+1x1o")
    converted = from_e3nn(torch.nn.Sequential(linear, torch.nn.Tanh(), linear))
    assert type(converted[0]) is o3.Linear and converted[0] is converted[2]


def test_random_stream_is_left_as_it_was():
    original = e3nn.o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "2x1o")
    before = torch.get_rng_state()
    from_e3nn(original)
    assert torch.equal(torch.get_rng_state(), before)


def test_parametrised_activation_keeps_e3nn_constant():
    """e3nn computes normalize2mom's constant in float64, e3core in the parameters' dtype:
    after a cast to float32 the converted module keeps e3nn's."""
    saved = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        original = e3nn.nn.FullyConnectedNet([3, 5, 2], torch.nn.PReLU(init=0.3))
    finally:
        torch.set_default_dtype(saved)
    original.float()
    converted = from_e3nn(original)
    assert converted.layer0.act.cst == original.layer0.act.cst
    assert converted.layer0.act.f is not original.layer0.act.f  # a copy, not shared
    x = torch.randn(4, 3)
    # Not bit for bit: e3core folds the constant into the next layer's weights.
    torch.testing.assert_close(converted(x), original(x), rtol=1e-6, atol=1e-7)


# --- errors ---


class Holder(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.SiLU(), module)


class MyLinear(e3nn.o3.Linear):
    pass


@pytest.mark.parametrize(
    "model, error, message",
    [
        (
            lambda: Holder(e3nn.o3.ReducedTensorProducts("ij=ji", i="1o")),
            TypeError,
            "from_e3nn: layers.2 is e3nn.o3.ReducedTensorProducts, which e3core does not provide;"
            " from_e3nn(strict=False) keeps it as it is",
        ),
        (
            lambda: e3nn.o3.ReducedTensorProducts("ij=ji", i="1o"),
            TypeError,
            "from_e3nn: the module is e3nn.o3.ReducedTensorProducts, which e3core does not",
        ),
        (
            lambda: Holder(MyLinear("1o", "1o")),
            TypeError,
            f"from_e3nn: layers.2 is {__name__}.MyLinear, a subclass of e3nn.o3.Linear;",
        ),
        (
            lambda: Holder(e3nn.o3.TensorSquare("2x1o", "1x0e", out_var=[2.0])),
            ValueError,
            "from_e3nn: layers.2 (e3nn.o3.TensorSquare): its coefficients are not",
        ),
        (
            lambda: Holder(e3nn.o3.Linear("2x0e", "1x0e", f_in=3, f_out=2)),
            ValueError,
            "from_e3nn: layers.2 (e3nn.o3.Linear): its coefficients are not",
        ),
    ],
    ids=["unsupported", "unsupported_root", "subclass", "square_variances", "linear_f_in"],
)
def test_errors(model, error, message):
    with pytest.raises(error) as info:
        from_e3nn(model(), strict=True)
    assert str(info.value).startswith(message)


class Contraction(e3nn.util.codegen.CodeGenMixin, torch.nn.Module):
    """A module of e3nn's code-generation mixin, as MACE's symmetric contraction is."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = e3nn.o3.Linear("1o", "1o")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * 2


def test_what_e3core_lacks_is_kept_and_reported():
    model = torch.nn.Sequential(
        e3nn.o3.Linear("2x1o", "1o"),
        MyLinear("1o", "1o"),
        Contraction(),
        e3nn.o3.TensorSquare("1o", "0e"),
    )
    with pytest.warns(UserWarning) as warned:
        converted = from_e3nn(model)
    message = str(warned[0].message)
    assert message.startswith("from_e3nn kept 2 e3nn module(s) as they are: ")
    assert f"1 ({__name__}.MyLinear, a subclass of e3nn.o3.Linear)" in message
    assert "2 (" in message and "a subclass of e3nn.util.codegen.CodeGenMixin" in message
    assert isinstance(converted[0], o3.Linear)
    assert type(converted[1]) is MyLinear
    assert type(converted[2].linear) is e3nn.o3.Linear
    assert isinstance(converted[3], o3.TensorSquare)
    x = torch.randn(5, 6)
    torch.testing.assert_close(converted(x), model(x), rtol=1e-5, atol=1e-6)


def test_nothing_kept_nothing_reported():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = from_e3nn(e3nn.nn.Identity("2x0e+1o", "2x0e+1o"))
    assert isinstance(converted, nn.Identity)
