"""e3core.from_e3nn: each supported e3nn module becomes e3core's with the same outputs and
gradients (float32 and float64); a NequIP-like model inside custom modules and a Sequential gives
e3nn's energies, forces and force-training gradients, also under TorchScript; the original is left
unchanged; state, placement and sharing carry over; unsupported modules raise."""

import copy
import warnings

import e3nn.math
import e3nn.nn
import e3nn.nn.models.gate_points_2101
import e3nn.nn.models.gate_points_2102
import e3nn.nn.models.v2103.voxel_convolution
import e3nn.nn.models.v2104.voxel_convolution
import e3nn.o3
import e3nn.o3.experimental
import e3nn.util.codegen
import pytest
import torch
import torch.nn.functional as F
from e3core import from_e3nn, nn, o3
from e3core import math as e3core_math
from e3core.nn.models import gate_points_2101, gate_points_2102
from e3core.nn.models.v2104 import voxel_convolution
from e3core.o3 import experimental

E3NN_VOXEL = e3nn.nn.models.v2104.voxel_convolution
# A module that e3core does not provide (nor from_e3nn convert).
E3NN_V2103_FILTER = e3nn.nn.models.v2103.voxel_convolution.LowPassFilter
E3NN_V2 = (
    e3nn.o3.experimental.FullTensorProductv2,
    e3nn.o3.experimental.ElementwiseTensorProductv2,
)

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
    elif isinstance(m, e3nn.math.normalize2mom):
        dims = [4]
    elif isinstance(m, e3nn.o3.ToS2Grid):
        dims = [(m.lmax + 1) ** 2]
    elif isinstance(m, e3nn.o3.FromS2Grid):
        return [(batch, m.res_beta, m.res_alpha)]
    elif isinstance(m, (e3nn.o3.Legendre, e3nn.o3.SphericalHarmonicsAlphaBeta)):
        return [(batch,), (batch,)]
    elif isinstance(m, e3nn.o3.ReducedTensorProducts):
        dims = [irreps.dim for irreps in m.irreps_in]
    elif isinstance(m, e3nn.nn.SO3Activation):
        dims = [m.grid_in.D.shape[-1]]
    elif isinstance(m, E3NN_V2):
        dims = [m.irreps_in1.dim, m.irreps_in2.dim]
    elif isinstance(m, E3NN_VOXEL.Convolution):
        return [(2, m.irreps_in.dim, 6, 5, 7)]
    elif isinstance(m, E3NN_VOXEL.LowPassFilter):
        return [(2, 3, 9, 8, 10)]
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
    # The grids' normalizations and lmax_in are not kept by e3nn: its buffers carry them.
    "to_s2_grid": (o3.ToS2Grid, lambda: e3nn.o3.ToS2Grid(3, (8, 9), normalization="norm")),
    "to_s2_grid_default_res": (o3.ToS2Grid, lambda: e3nn.o3.ToS2Grid(2)),
    "from_s2_grid": (
        o3.FromS2Grid,
        lambda: e3nn.o3.FromS2Grid((10, 7), 3, normalization="integral", lmax_in=5),
    ),
    "spherical_harmonics_alpha_beta": (
        o3.SphericalHarmonicsAlphaBeta,
        lambda: e3nn.o3.SphericalHarmonicsAlphaBeta([0, 2, 1], "norm"),
    ),
    "normalize2mom": (e3core_math.normalize2mom, lambda: e3nn.math.normalize2mom(F.softplus)),
    "legendre": (o3.Legendre, lambda: e3nn.o3.Legendre([0, 3, 1, 1, 4])),
    "reduced_tensor_products": (
        o3.ReducedTensorProducts,
        lambda: e3nn.o3.ReducedTensorProducts("ijk=-jik", i="1o", k="0e+1e"),
    ),
    "reduced_tensor_products_filtered": (
        o3.ReducedTensorProducts,
        lambda: e3nn.o3.ReducedTensorProducts(
            "ijk=jik", i="1o", k="1e", filter_ir_out=["1e", "2e"], filter_ir_mid=["0e", "1e"]
        ),
    ),
    "s2_activation": (
        nn.S2Activation,
        lambda: e3nn.nn.S2Activation("0e+1o+2e", torch.tanh, (10, 11), lmax_out=3),
    ),
    "s2_activation_odd": (
        nn.S2Activation,
        lambda: e3nn.nn.S2Activation("0o+1e+2o", torch.tanh, 8, normalization="norm"),
    ),
    "so3_activation": (
        nn.SO3Activation,
        lambda: e3nn.nn.SO3Activation(2, 1, F.silu, 3, aspect_ratio=1.5),
    ),
    "full_tensor_product_v2": (
        experimental.FullTensorProductv2,
        lambda: e3nn.o3.experimental.FullTensorProductv2(
            e3nn.o3.Irreps("1x1o+2x0e+1x1o"),
            e3nn.o3.Irreps("2x1e+1x2o"),
            filter_ir_out=e3nn.o3.Irreps("0e+1e+2e+3e+1o"),
            irrep_normalization="norm",
        ),
    ),
    "elementwise_tensor_product_v2": (
        experimental.ElementwiseTensorProductv2,
        lambda: e3nn.o3.experimental.ElementwiseTensorProductv2(
            e3nn.o3.Irreps("2x1o+1x2e"), e3nn.o3.Irreps("1x1o+1x0e+1x1e")
        ),
    ),
    # A 3 x 5 x 3 lattice; e3nn keeps conv3d's keyword arguments.
    "voxel_convolution": (
        voxel_convolution.Convolution,
        lambda: E3NN_VOXEL.Convolution(
            "2x0e+1x1o",
            "1x0e+1x1e",
            "0e+1o+2e",
            3.3,
            3,
            steps=(1.0, 0.7, 1.3),
            dilation=2,
            padding=(2, 4, 2),
        ),
    ),
    "low_pass_filter": (
        voxel_convolution.LowPassFilter,
        lambda: E3NN_VOXEL.LowPassFilter(3.0, 2, steps=(1.0, 0.5, 1.7)),
    ),
    "low_pass_filter_transposed": (
        voxel_convolution.LowPassFilter,
        lambda: E3NN_VOXEL.LowPassFilter(2.0, 2, transposed=True),
    ),
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


class Calling(torch.nn.Module):
    """``call(module, *inputs)`` as a module with module's parameters (for outputs_and_grads)."""

    def __init__(self, module, call):
        super().__init__()
        self.module, self.call = module, call

    def forward(self, *inputs):
        return self.call(self.module, *inputs)


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
            lambda: Holder(E3NN_V2103_FILTER(2.0)),
            TypeError,
            "from_e3nn: layers.2 is e3nn.nn.models.v2103.voxel_convolution.LowPassFilter, which "
            "from_e3nn does not convert; from_e3nn(strict=False) keeps it as it is",
        ),
        (
            lambda: E3NN_V2103_FILTER(2.0),
            TypeError,
            "from_e3nn: the module is e3nn.nn.models.v2103.voxel_convolution.LowPassFilter, which",
        ),
        (
            lambda: Holder(e3nn.o3.Legendre([])),
            TypeError,
            "from_e3nn: layers.2 is e3nn.o3.Legendre: built with no degree, which e3core's "
            "Legendre does not accept;",
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
    ids=[
        "unsupported",
        "unsupported_root",
        "legendre_empty",
        "subclass",
        "square_variances",
        "linear_f_in",
    ],
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
        E3NN_V2103_FILTER(1.0),
    )
    with pytest.warns(UserWarning) as warned:
        converted = from_e3nn(model)
    message = str(warned[0].message)
    assert message.startswith("from_e3nn kept 3 e3nn module(s) as they are: ")
    assert f"1 ({__name__}.MyLinear, a subclass of e3nn.o3.Linear)" in message
    assert "2 (" in message and "a subclass of e3nn.util.codegen.CodeGenMixin" in message
    assert (
        "4 (e3nn.nn.models.v2103.voxel_convolution.LowPassFilter, which from_e3nn does not "
        "convert)" in message
    )
    assert isinstance(converted[0], o3.Linear)
    assert type(converted[1]) is MyLinear
    assert type(converted[2].linear) is e3nn.o3.Linear
    assert isinstance(converted[3], o3.TensorSquare)
    assert type(converted[4]) is E3NN_V2103_FILTER
    x = torch.randn(5, 6)
    torch.testing.assert_close(converted(x), model(x), rtol=1e-5, atol=1e-6)


def test_nothing_kept_nothing_reported():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = from_e3nn(e3nn.nn.Identity("2x0e+1o", "2x0e+1o"))
    assert isinstance(converted, nn.Identity)


# ReducedTensorProducts is compiled by tracing, as e3nn's.
SCRIPTED = [
    "to_s2_grid",
    "from_s2_grid",
    "spherical_harmonics_alpha_beta",
    "legendre",
    "s2_activation",
    "so3_activation",
    "full_tensor_product_v2",
    "elementwise_tensor_product_v2",
    "voxel_convolution",
    "low_pass_filter",
]


@pytest.mark.parametrize("name", SCRIPTED)
def test_converted_modules_script(name):
    original = randomize(CASES[name][1]())
    scripted = torch.jit.script(from_e3nn(original))
    inputs = [torch.randn(shape) for shape in _input_shapes(original)]
    torch.testing.assert_close(scripted(*inputs), original(*inputs), **TOL[torch.float32])


def test_so3_grid_matches_e3nn(dtype):
    """SO3Grid has no forward: its to_grid and from_grid, and lmax, which e3nn does not keep."""
    original = e3nn.o3.SO3Grid(2, 3, aspect_ratio=1.5)
    converted = from_e3nn(original)
    assert type(converted) is o3.SO3Grid
    assert (converted.lmax, converted.res_alpha, converted.res_beta) == (2, 9, 6)
    features = torch.randn(4, original.D.shape[-1])
    grid = torch.randn(4, 9, 6, 9)
    for method, x in [("to_grid", features), ("from_grid", grid)]:

        def call(m, x, method=method):
            return getattr(m, method)(x)

        _, outs, grads, _ = outputs_and_grads(Calling(original, call), [x])
        _, outs_c, grads_c, _ = outputs_and_grads(Calling(converted, call), [x])
        assert_close_all(outs_c, outs, dtype)
        assert_close_all(grads_c, grads, dtype)


def test_what_e3nn_does_not_keep_is_recovered():
    """Legendre's degrees, the grids' resolutions, the v2 products' filters and normalizations
    come back from e3nn's values and buffers."""
    assert from_e3nn(CASES["legendre"][1]()).ls == [0, 3, 1, 1, 4]
    s2 = from_e3nn(CASES["s2_activation"][1]())
    assert (s2.to_s2.res_beta, s2.to_s2.res_alpha, s2.from_s2.lmax) == (10, 11, 3)
    reduced = CASES["reduced_tensor_products_filtered"][1]()
    converted = from_e3nn(reduced)
    assert str(converted.irreps_out) == str(reduced.irreps_out)
    assert [str(i) for i in converted.irreps_in] == [str(i) for i in reduced.irreps_in]
    v2 = CASES["full_tensor_product_v2"][1]()
    assert str(from_e3nn(v2).irreps_out) == str(v2.irreps_out)


def test_v2_product_with_repeated_pairs_is_kept():
    """e3nn keys its paths by irreps: repeated pairs are computed once, which e3core does not
    reproduce."""
    original = e3nn.o3.experimental.FullTensorProductv2(
        e3nn.o3.Irreps("1x0e+1x1o+1x0e"), e3nn.o3.Irreps("1x0e"), regroup_output=False
    )
    with pytest.warns(UserWarning, match="a pair of irreps repeats in its inputs"):
        converted = from_e3nn(original)
    assert converted is not original and type(converted) is type(original)


NETWORKS = {
    "gate_points_2101": (
        gate_points_2101.Network,
        lambda: e3nn.nn.models.gate_points_2101.Network(
            "2x0e+1x1o",
            "4x0e+2x1o+1x1e",
            "1x0e+1x1o",
            "2x0e",
            "0e+1o+2e",
            2,
            1.5,
            4,
            1,
            8,
            3.0,
            10.0,
        ),
    ),
    "gate_points_2101_no_inputs": (
        gate_points_2101.Network,
        lambda: e3nn.nn.models.gate_points_2101.Network(
            None, "4x0e+2x1o", "0e", None, "0e+1o", 1, 1.5, 3, 0, 8, 3.0, 10.0, False
        ),
    ),
    "gate_points_2102": (
        gate_points_2102.Network,
        lambda: e3nn.nn.models.gate_points_2102.Network(
            "2x0e+1x1o", "4x0e+2x1o", "1x0e+1x1o", "2x0e", "0e+1o+2e", 2, 1.5, 4, 2, 6, 3.0, 10.0
        ),
    ),
}


def network_data(network, n=12, seed=5):
    """Two graphs of 6 points (under 25: e3nn's and e3core's radius searches agree)."""
    generator = torch.Generator().manual_seed(seed)
    data = {"pos": 1.5 * torch.randn(n, 3, generator=generator)}
    data["batch"] = torch.arange(n) // (n // 2)
    if network.input_has_node_in:
        data["x"] = torch.randn(n, network.irreps_in.dim, generator=generator)
    if network.input_has_node_attr:
        data["z"] = torch.randn(n, network.irreps_node_attr.dim, generator=generator)
    return data


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_matches_e3nn(name, dtype):
    """A whole network: its outputs and the gradients with respect to positions, node
    features and every parameter."""
    cls, build = NETWORKS[name]
    original = randomize(build())
    converted = from_e3nn(original)
    assert type(converted) is cls
    data = network_data(original)
    keys = [key for key in ("pos", "x", "z") if key in data]
    inputs = [data[key] for key in keys]

    def call(network, *tensors):
        return network({**data, **dict(zip(keys, tensors, strict=True))})

    _, outs, grads, param_grads = outputs_and_grads(Calling(original, call), inputs)
    _, outs_c, grads_c, param_grads_c = outputs_and_grads(Calling(converted, call), inputs)
    assert_close_all(outs_c, outs, dtype)
    assert_close_all(grads_c, grads, dtype)
    assert param_grads_c.keys() == param_grads.keys()
    assert_close_all(list(param_grads_c.values()), list(param_grads.values()), dtype)


@pytest.mark.parametrize("name", ["gate_points_2101", "gate_points_2102"])
@pytest.mark.parametrize("layer", [0, -1], ids=["compose", "convolution"])
def test_network_layers_match_e3nn(name, layer, dtype):
    """A Compose (convolution and gate) and a Convolution converted on their own."""
    original = randomize(NETWORKS[name][1]()).layers[layer]
    converted = from_e3nn(original)
    module = original.first if layer == 0 else original
    expected = {
        ("gate_points_2101", 0): gate_points_2101.Compose,
        ("gate_points_2101", -1): gate_points_2101.Convolution,
        ("gate_points_2102", 0): gate_points_2102.Compose,
        ("gate_points_2102", -1): gate_points_2102.Convolution,
    }[name, layer]
    assert type(converted) is expected
    generator = torch.Generator().manual_seed(6)
    nodes, edges = 5, 9
    inputs = [
        torch.randn(nodes, module.irreps_in.dim, generator=generator),
        torch.randn(nodes, module.irreps_node_attr.dim, generator=generator),
        torch.randn(edges, module.irreps_edge_attr.dim, generator=generator),
        torch.randn(edges, module.fc.hs[0], generator=generator),
    ]
    src = torch.randint(nodes, (edges,), generator=generator)
    dst = torch.randint(nodes, (edges,), generator=generator)

    def call(m, x, attr, edge_attr, edge):
        return m(x, attr, src, dst, edge_attr, edge)

    _, outs, grads, param_grads = outputs_and_grads(Calling(original, call), inputs)
    _, outs_c, grads_c, param_grads_c = outputs_and_grads(Calling(converted, call), inputs)
    assert_close_all(outs_c, outs, dtype)
    assert_close_all(grads_c, grads, dtype)
    assert param_grads_c.keys() == param_grads.keys()
    assert_close_all(list(param_grads_c.values()), list(param_grads.values()), dtype)
