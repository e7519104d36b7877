"""e3core.graph.neighbor_list and radius_graph: ase.neighborlist's pairs, shifts, distances and
vectors (numpy and torch), gradients to positions and cell, half and sorted lists, radius graphs
against a brute force, TorchScript / compile / export, and bad input."""

import io

import numpy as np
import pytest
import torch
from e3core import _core, graph

ase = pytest.importorskip("ase")
ase_neighborlist = pytest.importorskip("ase.neighborlist")

# name: (atoms, cell scale, pbc, cutoff)
SYSTEMS = {
    "periodic": (20, 3.0, True, 3.5),
    "slab": (20, 3.0, (True, True, False), 4.0),
    "wire": (15, 3.0, (False, False, True), 4.0),
    "mixed": (15, 3.0, (True, False, True), 2.5),
    "cutoff 3x the cell": (4, 1.2, True, 3.6),
    "skewed cell": (3, 1.0, True, 2.5),
    "molecule in a box": (25, 3.0, False, 2.0),
}


def random_system(name, seed=0):
    n, scale, pbc, cutoff = SYSTEMS[name]
    rng = np.random.default_rng(seed)
    tilt = 0.8 if name == "skewed cell" else 0.4
    cell = scale * np.eye(3) + tilt * rng.standard_normal((3, 3))
    positions = rng.uniform(-0.5, 1.5, (n, 3)) @ cell  # some outside the cell
    return positions, cell, pbc, cutoff


def ase_list(quantities, positions, cell, pbc, cutoff, self_interaction=False):
    atoms = ase.Atoms(positions=positions, cell=cell, pbc=pbc)
    return ase_neighborlist.neighbor_list(
        quantities, atoms, cutoff, self_interaction=self_interaction
    )


def lexsorted(i, j, S, *values):
    """(i, j, S) rows sorted by i, j, S, and the values in the same order."""
    key = np.concatenate([np.asarray(i)[:, None], np.asarray(j)[:, None], np.asarray(S)], 1)
    order = np.lexsort(key.T[::-1])
    return (key[order], *(np.asarray(v)[order] for v in values))


@pytest.mark.parametrize("self_interaction", [False, True])
@pytest.mark.parametrize("name", SYSTEMS)
def test_pairs_distances_and_vectors_match_ase(name, self_interaction):
    positions, cell, pbc, cutoff = random_system(name)
    expected = lexsorted(*ase_list("ijSdD", positions, cell, pbc, cutoff, self_interaction))
    for sorted_ in [False, True]:
        got = graph.neighbor_list(
            "ijSdD", positions, cutoff, cell, pbc, self_interaction, sorted=sorted_
        )
        assert [a.dtype for a in got] == [np.int64] * 3 + [np.float64] * 2
        keys, d, D = lexsorted(*got)
        np.testing.assert_array_equal(keys, expected[0])
        np.testing.assert_allclose(d, expected[1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(D, expected[2], rtol=0, atol=1e-12)


def test_isolated_molecule_needs_no_cell():
    positions = np.random.default_rng(1).standard_normal((30, 3)) * 2
    expected = lexsorted(*ase_list("ijS", positions, None, False, 1.8))[0]
    for cell in [None, np.zeros((3, 3))]:
        np.testing.assert_array_equal(
            lexsorted(*graph.neighbor_list("ijS", positions, 1.8, cell))[0], expected
        )


@pytest.mark.parametrize("sorted_", [False, True])
@pytest.mark.parametrize("name", ["periodic", "cutoff 3x the cell", "slab"])
def test_half_list_has_each_unordered_pair_once(name, sorted_):
    positions, cell, pbc, cutoff = random_system(name, seed=2)
    full = lexsorted(*graph.neighbor_list("ijS", positions, cutoff, cell, pbc))[0]
    i, j, S = graph.neighbor_list(
        "ijS", positions, cutoff, cell, pbc, full_list=False, sorted=sorted_
    )
    own = i == j
    first = np.where(S[:, 0] != 0, S[:, 0], np.where(S[:, 1] != 0, S[:, 1], S[:, 2]))
    assert np.all((i < j) | (own & (first > 0)))
    both = lexsorted(np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([S, -S]))[0]
    np.testing.assert_array_equal(both, full)


def test_sorted_order_and_the_same_pairs_on_any_number_of_threads():
    positions, cell, pbc, cutoff = random_system("periodic", seed=3)
    positions = np.concatenate([positions + k * cell[0] for k in range(40)])  # 800 atoms
    i, j, S = graph.neighbor_list(
        "ijS", positions, cutoff, cell * [[40], [1], [1]], pbc, sorted=True
    )
    key = np.concatenate([i[:, None], j[:, None], S], 1)
    assert (np.lexsort(key.T[::-1]) == np.arange(len(i))).all()
    for sorted_ in [False, True]:
        args = ("ijSD", positions, cutoff, cell * [[40], [1], [1]], pbc)
        threads = _core.num_threads()
        try:
            _core.set_num_threads(1)
            one = graph.neighbor_list(*args, sorted=sorted_)
            _core.set_num_threads(3)
            three = graph.neighbor_list(*args, sorted=sorted_)
        finally:
            _core.set_num_threads(threads)
        for a, b in zip(one, three, strict=True):
            np.testing.assert_array_equal(a, b)


def test_float32_and_noncontiguous_inputs():
    positions, cell, pbc, cutoff = random_system("periodic", seed=4)
    expected = lexsorted(*graph.neighbor_list("ijSd", positions, cutoff, cell, pbc))
    wide = np.zeros((len(positions), 6))
    wide[:, ::2] = positions
    got = lexsorted(*graph.neighbor_list("ijSd", wide[:, ::2], cutoff, cell.T.copy().T, pbc))
    np.testing.assert_array_equal(got[0], expected[0])
    i, j, S, d = graph.neighbor_list("ijSd", positions.astype(np.float32), cutoff, cell, pbc)
    assert d.dtype == np.float32
    # Rounding to float32 may move a pair across the cutoff, nothing more.
    assert abs(len(i) - len(expected[0])) <= 2
    assert np.all(d < cutoff)


def test_quantities_come_in_the_order_asked():
    positions, cell, pbc, cutoff = random_system("periodic")
    i, j, S, d, D = graph.neighbor_list("ijSdD", positions, cutoff, cell, pbc)
    S2, i2 = graph.neighbor_list("Si", positions, cutoff, cell, pbc)
    np.testing.assert_array_equal(S2, S)
    np.testing.assert_array_equal(i2, i)
    np.testing.assert_array_equal(graph.neighbor_list("d", positions, cutoff, cell, pbc), d)


def test_no_atoms_give_empty_outputs():
    i, j, S, d, D = graph.neighbor_list("ijSdD", np.zeros((0, 3)), 2.0, np.eye(3), True)
    assert i.shape == j.shape == d.shape == (0,) and S.shape == D.shape == (0, 3)
    t = graph.neighbor_list("ijSdD", torch.zeros(0, 3), 2.0, torch.eye(3), True)
    assert [tuple(x.shape) for x in t] == [(0,), (0,), (0, 3), (0,), (0, 3)]
    assert graph.radius_graph(torch.zeros(0, 3), 2.0).shape == (2, 0)


@pytest.mark.parametrize("name", ["periodic", "mixed", "molecule in a box"])
def test_torch_gives_the_numpy_pairs_as_tensors(name):
    positions, cell, pbc, cutoff = random_system(name, seed=5)
    expected = graph.neighbor_list("ijSdD", positions, cutoff, cell, pbc)
    got = graph.neighbor_list(
        "ijSdD", torch.from_numpy(positions), cutoff, torch.from_numpy(cell), pbc
    )
    for a, b in zip(got, expected, strict=True):
        assert isinstance(a, torch.Tensor)
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["periodic", "slab", "cutoff 3x the cell"])
def test_gradients_of_d_and_D_to_positions_and_cell(name):
    positions, cell, pbc, cutoff = random_system(name, seed=6)
    x = torch.from_numpy(positions[:6]).requires_grad_()
    c = torch.from_numpy(cell).requires_grad_()

    def d_and_D(x, c):
        return graph.neighbor_list("dD", x, cutoff, c, pbc)

    assert torch.autograd.gradcheck(d_and_D, (x, c))


def test_energy_gradient_gives_forces_and_virial():
    # A pair energy E(D): through D = x[j] - x[i] + S cell, autograd gives dE/dx (minus the
    # forces) and dE/dcell, and with them the virial dE/d(strain) = sum over pairs of D^T dE/dD.
    positions, cell, pbc, cutoff = random_system("periodic", seed=7)
    x = torch.from_numpy(positions).requires_grad_()
    c = torch.from_numpy(cell).requires_grad_()
    d, D = graph.neighbor_list("dD", x, cutoff, c, pbc)
    energy = (0.5 * (d - cutoff) ** 2).sum()
    grad_x, grad_cell = torch.autograd.grad(energy, (x, c))
    g = (((d - cutoff) / d)[:, None] * D).detach().numpy()  # dE/dD
    i, j = graph.neighbor_list("ij", positions, cutoff, cell, pbc)
    expected = np.zeros_like(positions)
    np.add.at(expected, j, g)
    np.add.at(expected, i, -g)
    np.testing.assert_allclose(grad_x.numpy(), expected, atol=1e-10)
    # Straining x -> x (1 + e) and cell -> cell (1 + e) strains every D.
    virial = positions.T @ grad_x.numpy() + cell.T @ grad_cell.numpy()
    np.testing.assert_allclose(virial, D.detach().numpy().T @ g, atol=1e-9)


def brute_radius_graph(x, r, batch, loop, max_num_neighbors):
    n = len(x)
    rows = []
    for i in range(n):
        near = []
        for j in range(n):
            same = batch is None or batch[i] == batch[j]
            if same and (loop or i != j) and ((x[j] - x[i]) ** 2).sum() < r * r:
                near.append((((x[j] - x[i]) ** 2).sum(), j))
        near.sort()
        if max_num_neighbors is not None:
            near = near[:max_num_neighbors]
        rows += [(j, i) for j in sorted(j for _, j in near)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2).T


@pytest.mark.parametrize("max_num_neighbors", [None, 0, 1, 3])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("batch", ["none", "sorted", "shuffled"])
def test_radius_graph_matches_brute_force(batch, loop, max_num_neighbors):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 3)) * 1.5
    b = None if batch == "none" else rng.integers(0, 4, 40)
    if batch == "sorted":
        b = np.sort(b)
    expected = brute_radius_graph(x, 1.6, b, loop, max_num_neighbors)
    for dtype in [torch.float64, torch.float32]:
        edges = graph.radius_graph(
            torch.from_numpy(x).to(dtype),
            1.6,
            None if b is None else torch.from_numpy(b),
            max_num_neighbors,
            loop,
        )
        assert edges.dtype == torch.long
        np.testing.assert_array_equal(edges.numpy(), expected)
    np.testing.assert_array_equal(
        _core.radius_graph(x, 1.6, b, loop, -1 if max_num_neighbors is None else max_num_neighbors),
        expected,
    )


def test_radius_graph_rows_are_source_then_target_and_keep_the_nearest():
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    edges = graph.radius_graph(x, 2.0, max_num_neighbors=1)
    # Each target (row 1) keeps its nearest source (row 0).
    assert edges.tolist() == [[2, 0, 0], [0, 1, 2]]


class Energy(torch.nn.Module):
    """A model that builds its own graph: a pair energy of a batch of molecules."""

    def forward(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        edges = graph.radius_graph(x, 2.0, batch, 6)
        d = torch.linalg.vector_norm(
            x.index_select(0, edges[0]) - x.index_select(0, edges[1]), dim=1
        )
        return torch.cos(d).sum()


class PeriodicEnergy(torch.nn.Module):
    """The same with periodic boundaries, through the neighbor_list op."""

    def forward(self, x: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        i, j, S = torch.ops.e3core.neighbor_list(
            x.detach(), 2.5, cell.detach(), [True, True, True], False, True, False
        )
        D = x.index_select(0, j) - x.index_select(0, i) + S.to(x.dtype) @ cell
        return torch.cos(torch.linalg.vector_norm(D, dim=1)).sum()


def scripted_roundtrip(module):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def test_models_that_build_their_graph_script_save_and_load():
    x = torch.randn(30, 3, dtype=torch.float64, requires_grad=True)
    batch = torch.repeat_interleave(torch.arange(3), 10)
    loaded = scripted_roundtrip(Energy())
    energy = loaded(x, batch)
    torch.testing.assert_close(energy, Energy()(x, batch))
    (forces,) = torch.autograd.grad(energy, x)
    (expected,) = torch.autograd.grad(Energy()(x, batch), x)
    torch.testing.assert_close(forces, expected)

    positions, cell, _, _ = random_system("periodic", seed=9)
    xp, c = torch.from_numpy(positions), torch.from_numpy(cell)
    torch.testing.assert_close(scripted_roundtrip(PeriodicEnergy())(xp, c), PeriodicEnergy()(xp, c))


def test_radius_graph_under_compile_and_export_with_a_dynamic_edge_count():
    x = torch.randn(20, 3)
    batch = torch.repeat_interleave(torch.arange(4), 5)
    expected = Energy()(x, batch)
    compiled = torch.compile(Energy(), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, batch), expected)
    n = torch.export.Dim("n")
    program = torch.export.export(
        Energy(), (x, batch), dynamic_shapes={"x": {0: n}, "batch": {0: n}}
    )
    x2 = torch.randn(33, 3)
    batch2 = torch.repeat_interleave(torch.arange(3), 11)
    torch.testing.assert_close(program.module()(x2, batch2), Energy()(x2, batch2))


def test_ops_pass_opcheck():
    x = torch.randn(12, 3, dtype=torch.float64)
    torch.library.opcheck(
        torch.ops.e3core.neighbor_list.default,
        (x, 2.0, torch.eye(3, dtype=torch.float64) * 3, [True, False, True], False, True, True),
    )
    torch.library.opcheck(
        torch.ops.e3core.radius_graph.default, (x, 1.5, torch.zeros(12, dtype=torch.long), False, 4)
    )


ERRORS = [
    # (call, error, part of the message)
    (lambda: graph.neighbor_list("ij", np.zeros((2, 3)), -1.0), ValueError, "cutoff is -1"),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), float("nan")),
        ValueError,
        "cutoff is nan",
    ),
    (lambda: graph.neighbor_list("ij", np.full((2, 3), np.nan), 1.0), ValueError, "positions[0]"),
    (
        lambda: graph.neighbor_list("ij", np.array([[0, 0, 0], [0, 0, np.inf]]), 1.0),
        ValueError,
        "positions[1]",
    ),
    (lambda: graph.neighbor_list("ij", np.zeros((2, 4)), 1.0), ValueError, "positions has shape"),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), 1.0, np.eye(3)[:2], True),
        ValueError,
        "cell has shape",
    ),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), 1.0, None, True),
        ValueError,
        "cell is missing",
    ),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), 1.0, np.diag([1.0, 1.0, 0.0]), True),
        ValueError,
        "cell is singular",
    ),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), 1.0, np.eye(3) * np.nan, True),
        ValueError,
        "cell[0][0]",
    ),
    (lambda: graph.neighbor_list("ijx", np.zeros((2, 3)), 1.0), ValueError, "quantities"),
    (
        lambda: graph.neighbor_list("ij", np.zeros((2, 3)), 1.0, np.eye(3), [True, False]),
        ValueError,
        "pbc",
    ),
    (lambda: graph.neighbor_list("ij", torch.zeros(2, 3), -2.0), ValueError, "cutoff is -2"),
    (lambda: graph.neighbor_list("ij", torch.zeros(2, 4), 1.0), ValueError, "positions has shape"),
    (
        lambda: graph.neighbor_list("ij", torch.zeros(2, 3, dtype=torch.int32), 1.0),
        TypeError,
        "positions has dtype",
    ),
    (
        lambda: graph.neighbor_list("ij", torch.zeros(2, 3), 1.0, torch.zeros(3, 3), True),
        ValueError,
        "cell is singular",
    ),
    (
        lambda: graph.neighbor_list("ij", torch.zeros(2, 3), 1.0, torch.eye(2), True),
        ValueError,
        "cell has shape",
    ),
    (
        lambda: graph.neighbor_list("ij", torch.full((2, 3), np.nan), 1.0),
        ValueError,
        "positions[0]",
    ),
    (lambda: graph.radius_graph(torch.zeros(2, 3), -1.0), ValueError, "r_max is -1"),
    (lambda: graph.radius_graph(torch.full((2, 3), np.inf), 1.0), ValueError, "positions[0]"),
    (
        lambda: graph.radius_graph(torch.zeros(2, 3), 1.0, torch.zeros(3, dtype=torch.long)),
        ValueError,
        "batch has shape",
    ),
    (
        lambda: graph.radius_graph(torch.zeros(2, 3), 1.0, torch.zeros(2)),
        TypeError,
        "batch has dtype",
    ),
    (
        lambda: graph.radius_graph(torch.zeros(2, 3), 1.0, None, -1),
        ValueError,
        "max_num_neighbors is -1",
    ),
    (lambda: graph.radius_graph(torch.zeros(2, 2), 1.0), ValueError, "positions has shape"),
    (
        lambda: _core.radius_graph(np.zeros((2, 3)), 1.0, np.zeros(3, dtype=np.int64)),
        ValueError,
        "batch has shape",
    ),
]


@pytest.mark.parametrize("call, error, message", ERRORS)
def test_bad_input_names_the_argument(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
