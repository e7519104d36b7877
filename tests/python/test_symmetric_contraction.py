"""e3core.nn.SymmetricContraction (MACE's product basis, issue 19) against mace-torch's own
module: its basis tensors built by e3core, its state_dict, its outputs in float64 and float32;
equivariance under rotations and inversion; gradients; TorchScript, torch.compile and
torch.export; errors."""

import e3nn.o3 as e3nn_o3
import mace.modules.symmetric_contraction as mace_sc
import pytest
import torch
from e3core import o3
from e3core.nn import SymmetricContraction, coupling_basis
from mace_reference import mace_batch, mace_model, structures

CHANNELS = 4
# 4x0o+4x1e and 4x3o (from max_ell 2) have powers without couplings: zeroed weights.
HIDDEN = ["4x0e", "4x0e+4x1o", "4x0e+4x1o+4x2e", "4x0o+4x1e", "4x3o"]


def node_irreps(max_ell: int) -> str:
    """MACE's input to the product basis: the spherical harmonics' irreps times the channels."""
    return str((e3nn_o3.Irreps.spherical_harmonics(max_ell) * CHANNELS).sort()[0].simplify())


def inputs(irreps_in: str, nodes: int, elements: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dim = o3.Irreps(irreps_in).dim // CHANNELS
    x = torch.randn(nodes, CHANNELS, dim, generator=gen, dtype=dtype)
    y = torch.eye(elements, dtype=dtype)[torch.randint(0, elements, (nodes,), generator=gen)]
    return x, y


def pair(irreps_in: str, hidden: str, correlation: int, dtype: torch.dtype, elements: int):
    """mace-torch's module and e3core's, built in ``dtype``, e3core's with mace-torch's weights
    only (its own basis tensors)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(1)
        theirs = mace_sc.SymmetricContraction(
            e3nn_o3.Irreps(irreps_in), e3nn_o3.Irreps(hidden), correlation, num_elements=elements
        )
        ours = SymmetricContraction(irreps_in, hidden, correlation, num_elements=elements)
    finally:
        torch.set_default_dtype(default)
    weights = {
        k: v
        for k, v in theirs.state_dict().items()
        if k.split(".")[2] == "weights" or k.endswith("weights_max")
    }
    assert weights, "mace-torch's module has no weights"
    missing, unexpected = ours.load_state_dict(weights, strict=False)
    assert not unexpected and all("U_matrix" in k or "zeroed" in k for k in missing)
    return theirs, ours


@pytest.mark.parametrize("max_ell", [2, 3])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("correlation", [1, 2, 3])
def test_equals_mace_torch_float64(max_ell, hidden, correlation):
    irreps_in = node_irreps(max_ell)
    elements = 1 if hidden == "4x0e" else 3
    theirs, ours = pair(irreps_in, hidden, correlation, torch.float64, elements)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for key, value in ref.items():
        assert mine[key].shape == value.shape, key
        if "U_matrix" in key or "zeroed" in key:
            torch.testing.assert_close(mine[key], value, rtol=0, atol=1e-14)
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == [
        n for n, p in theirs.named_parameters() if p.requires_grad
    ]
    x, y = inputs(irreps_in, 9, elements, torch.float64)
    expected = theirs(x, y)
    scale = float(expected.detach().abs().max())
    # 0o, 1e and 3o can vanish (out of reach of one power; a vector's cross product with itself).
    assert scale > 0.1 or hidden in HIDDEN[3:]
    torch.testing.assert_close(ours(x, y), expected, rtol=0, atol=1e-13 * max(scale, 1.0))
    ours.requires_grad_(True)
    theirs.requires_grad_(True)
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == [
        n for n, p in theirs.named_parameters() if p.requires_grad
    ]


def test_equals_mace_torch_at_correlation_4():
    theirs, ours = pair("2x0e+2x1o", "2x0e+2x1o+2x1e", 4, torch.float64, 2)
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == value.shape, key
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    y = torch.eye(2, dtype=torch.float64)[[0, 1, 1, 0, 1]]
    expected = theirs(x, y)
    torch.testing.assert_close(
        ours(x, y), expected, rtol=0, atol=1e-13 * float(expected.abs().max())
    )


@pytest.mark.parametrize("hidden", HIDDEN[:3])
@pytest.mark.parametrize("correlation", [2, 3])
def test_equals_mace_torch_float32(hidden, correlation):
    irreps_in = node_irreps(3)
    theirs, ours = pair(irreps_in, hidden, correlation, torch.float32, 3)
    x, y = inputs(irreps_in, 9, 3, torch.float32)
    expected = theirs(x, y)
    scale = float(expected.detach().abs().max())
    torch.testing.assert_close(ours(x, y), expected, rtol=0, atol=1e-5 * scale)


def test_mace_torch_state_dict_loads_strictly():
    irreps_in = node_irreps(2)
    theirs, _ = pair(irreps_in, "4x0e+4x1o", 3, torch.float32, 3)
    ours = SymmetricContraction(irreps_in, "4x0e+4x1o", 3, num_elements=3)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x, y = inputs(irreps_in, 5, 3, torch.float32)
    torch.testing.assert_close(ours(x, y), theirs(x, y))


def test_basis_of_two_vectors_is_their_dot_product():
    # 1o x 1o -> 0e: one path, wigner_3j(0, 1, 1) = I / sqrt(3), times sqrt(1) ("component").
    u = coupling_basis("1o", "0e", 2)
    assert u.shape == (3, 3, 1)
    torch.testing.assert_close(u[..., 0], torch.eye(3, dtype=torch.float64) / 3**0.5)
    # No coupling: zeros in mace-torch's layout, irreps_in's size-1 dimensions kept.
    none = coupling_basis("0e", "1o", 2)
    assert none.shape == (3, 1, 1, 1) and not none.any()


@pytest.mark.parametrize("parity", [1, -1])
@pytest.mark.parametrize("hidden", ["4x0e+4x1o+4x2e", "4x0o+4x1e"])
def test_equivariance(parity, hidden):
    irreps_in = node_irreps(3)
    sc = SymmetricContraction(irreps_in, hidden, 3, num_elements=2).double()
    coupling = o3.Irreps([(1, ir) for _, ir in o3.Irreps(irreps_in)])
    x, y = inputs(irreps_in, 6, 2, torch.float64)
    rotation = parity * o3.rand_matrix(dtype=torch.float64)
    out = sc(x, y)
    assert out.abs().max() > 0.1
    rotated = sc(x @ coupling.D_from_matrix(rotation).T, y)
    torch.testing.assert_close(rotated, out @ sc.irreps_out.D_from_matrix(rotation).T)


def test_inputs_without_even_scalars():
    # The channels are the irreps' common multiplicity (mace-torch counts the 0e copies).
    sc = SymmetricContraction("3x0o+3x1o", "3x0e+3x1e", 2, num_elements=2).double()
    coupling = o3.Irreps("0o+1o")
    x = torch.randn(4, 3, 4, dtype=torch.float64)
    y = torch.eye(2, dtype=torch.float64)[[0, 1, 1, 0]]
    rotation = -o3.rand_matrix(dtype=torch.float64)
    out = sc(x, y)
    assert out.shape == (4, 12) and out.abs().max() > 0.1
    rotated = sc(x @ coupling.D_from_matrix(rotation).T, y)
    torch.testing.assert_close(rotated, out @ sc.irreps_out.D_from_matrix(rotation).T)


def test_gradients():
    sc = SymmetricContraction("2x0e+2x1o+2x2e", "2x0e+2x1o", 3, num_elements=2).double()
    x = torch.randn(3, 2, 9, dtype=torch.float64, requires_grad=True)
    y = torch.eye(2, dtype=torch.float64)[[0, 1, 1]]
    names = [n for n, p in sc.named_parameters() if p.requires_grad]
    weights = [p.detach().clone().requires_grad_() for n, p in sc.named_parameters() if n in names]
    assert len(weights) == 6

    def f(x, *ws):
        return torch.func.functional_call(sc, dict(zip(names, ws, strict=True)), (x, y))

    assert torch.autograd.gradcheck(f, (x, *weights))
    assert torch.autograd.gradgradcheck(f, (x, *weights))


def test_torchscript_compile_and_export():
    irreps_in = "3x0e+3x1o+3x2e"
    sc = SymmetricContraction(irreps_in, "3x0e+3x1o", 3, num_elements=2)
    x, y = torch.randn(7, 3, 9), torch.eye(2)[[0, 1, 1, 0, 1, 0, 0]]
    expected = sc(x, y)
    torch.testing.assert_close(torch.jit.script(sc)(x, y), expected)
    torch.testing.assert_close(torch.compile(sc, fullgraph=True)(x, y), expected)
    nodes = torch.export.Dim("nodes", min=2)
    exported = torch.export.export(sc, (x, y), dynamic_shapes=({0: nodes}, {0: nodes}))
    x5, y5 = x[:5], y[:5]
    torch.testing.assert_close(exported.module()(x5, y5), sc(x5, y5))


def test_zero_nodes_and_frozen_weights():
    sc = SymmetricContraction("4x0e+4x1o", "4x0o+4x1e", 3, num_elements=2)
    assert sc(torch.randn(0, 4, 4), torch.zeros(0, 2)).shape == (0, 16)
    frozen = [n for n, p in sc.named_parameters() if not p.requires_grad]
    assert frozen
    sc.requires_grad_(True)
    assert frozen == [n for n, p in sc.named_parameters() if not p.requires_grad]
    x, y = torch.randn(3, 4, 4), torch.eye(2)[[0, 1, 1]]
    torch.testing.assert_close(torch.jit.script(sc)(x, y), sc(x, y))


def test_errors():
    with pytest.raises(ValueError, match="same number of channels"):
        SymmetricContraction("4x0e+2x1o", "4x0e", 2, num_elements=2)
    with pytest.raises(ValueError, match="irreps_out is 2x0e"):
        SymmetricContraction("4x0e+4x1o", "2x0e", 2, num_elements=2)
    with pytest.raises(ValueError, match=r"found \[2, 4\]"):
        SymmetricContraction("4x0e+2x1o", "4x0e", 2, num_elements=2)
    with pytest.raises(
        ValueError, match="SymmetricContraction: correlation is 0, expected an int >= 1"
    ):
        SymmetricContraction("4x0e", "4x0e", 0, num_elements=2)
    with pytest.raises(TypeError, match=r"correlation is 2.5 \(float\), expected an int >= 1"):
        SymmetricContraction("4x0e", "4x0e", 2.5, num_elements=2)
    with pytest.raises(
        ValueError, match="SymmetricContraction: num_elements is 0, expected an int >= 1"
    ):
        SymmetricContraction("4x0e", "4x0e", 2, num_elements=0)
    with pytest.raises(ValueError, match="both need at least one irrep"):
        SymmetricContraction("4x0e", "", 2, num_elements=2)
    sc = SymmetricContraction("4x0e+4x1o", "4x0e", 2, num_elements=2)
    with pytest.raises(ValueError, match=r"x has shape \[3, 4, 3\], expected \(nodes, 4, 4\)"):
        sc(torch.randn(3, 4, 3), torch.eye(2)[[0, 1, 0]])
    with pytest.raises(ValueError, match=r"y has shape \[3, 3\], expected \(3, 2\)"):
        sc(torch.randn(3, 4, 4), torch.eye(3))


@pytest.mark.parametrize(
    ("max_ell", "hidden", "correlation"), [(2, "8x0e+8x1o", 3), (3, "8x0e", 2)]
)
def test_from_e3nn_converts_a_whole_mace_model(max_ell, hidden, correlation):
    import warnings

    from e3core import from_e3nn

    model = mace_model(max_ell, hidden, correlation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = from_e3nn(model, strict=True)
    kinds = {type(m) for m in converted.modules()}
    assert SymmetricContraction in kinds and mace_sc.SymmetricContraction not in kinds
    batch = mace_batch(structures(), (1, 8), 3.0, torch.float64)
    expected = model(dict(batch), compute_force=True)
    got = converted(dict(batch), compute_force=True)
    assert expected["forces"].abs().max() > 1e-3
    for key in ("energy", "forces"):
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-10)


def test_contract_takes_e3nn_layout_and_element_indices():
    """``contract``: features in e3nn's layout and elements as indices give ``forward``'s
    output (features as (nodes, channels, dim), one-hot elements)."""
    sc = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", 3, num_elements=3).double()
    x, y = inputs("4x0e+4x1o+4x2e", 7, 3, torch.float64)
    flat = torch.cat([x[:, :, 0:1].reshape(7, -1), x[:, :, 1:4].reshape(7, -1),
                      x[:, :, 4:9].reshape(7, -1)], dim=1)  # fmt: skip
    expected = sc(x, y)
    torch.testing.assert_close(sc.contract(flat, y.argmax(1)), expected, rtol=0, atol=1e-13)
    torch.testing.assert_close(sc.contract(flat, y), expected, rtol=0, atol=1e-13)
