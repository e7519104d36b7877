"""io.SphericalTensor against e3nn.io.SphericalTensor."""

import e3nn.io
import pytest
import torch
from e3core import ArgumentError, ShapeError, io, nn, o3
from e3nn_reference import default_dtype


@pytest.mark.parametrize(
    ("lmax", "p_val", "p_arg"), [(0, 1, 1), (3, 1, -1), (4, -1, 1), (2, -1, -1)]
)
def test_irreps_as_e3nns(lmax, p_val, p_arg):
    ours, theirs = (
        io.SphericalTensor(lmax, p_val, p_arg),
        e3nn.io.SphericalTensor(lmax, p_val, p_arg),
    )
    assert isinstance(ours, o3.Irreps)
    assert str(ours) == str(theirs) and ours.dim == theirs.dim and ours.lmax == lmax
    # S2Activation takes it, as e3nn's does.
    if p_val == 1:
        assert nn.S2Activation(ours, torch.tanh, 12).irreps_in == ours


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_methods_as_e3nns(dtype):
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    with default_dtype(dtype):
        ours, theirs = io.SphericalTensor(4, 1, -1), e3nn.io.SphericalTensor(4, 1, -1)
        generator = torch.Generator().manual_seed(0)
        signal = torch.randn(2, 3, 25, generator=generator, dtype=dtype)
        r = torch.randn(4, 3, generator=generator, dtype=dtype)
        torch.testing.assert_close(ours.signal_xyz(signal, r), theirs.signal_xyz(signal, r))
        torch.testing.assert_close(ours.norms(signal), theirs.norms(signal))
        values = torch.randn(2, 4, generator=generator, dtype=dtype)
        torch.testing.assert_close(
            ours.sum_of_diracs(r, values), theirs.sum_of_diracs(r, values), atol=tol, rtol=tol
        )
        vectors = torch.tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, -2.0]], dtype=dtype)
        torch.testing.assert_close(
            ours.with_peaks_at(vectors), theirs.with_peaks_at(vectors), atol=tol, rtol=tol
        )
        peaks = torch.tensor([-1.5, 2.0, 0.5], dtype=dtype)
        torch.testing.assert_close(
            ours.with_peaks_at(vectors, peaks),
            theirs.with_peaks_at(vectors, peaks),
            atol=tol,
            rtol=tol,
        )
        grid, grid_values = ours.signal_on_grid(signal[0, 0], res=20, normalization="component")
        their_grid, their_values = theirs.signal_on_grid(signal[0, 0], 20, "component")
        torch.testing.assert_close(grid, their_grid, atol=tol, rtol=tol)
        torch.testing.assert_close(grid_values, their_values, atol=tol * 10, rtol=tol)
        samples = ours.from_samples_on_s2(r[None], values[:1], res=30)
        torch.testing.assert_close(
            samples, theirs.from_samples_on_s2(r[None], values[:1], res=30), atol=tol, rtol=tol
        )
        for a, b in zip(
            ours.plot(signal[0, 0], torch.ones(3, dtype=dtype), res=20, relu=True),
            theirs.plot(signal[0, 0], torch.ones(3, dtype=dtype), res=20, relu=True),
            strict=True,
        ):
            torch.testing.assert_close(a, b, atol=tol * 10, rtol=tol)
        traces, their_traces = (
            ours.plotly_surface(signal, res=12),
            theirs.plotly_surface(signal, res=12),
        )
        assert len(traces) == len(their_traces) == 6
        for t, u in zip(traces, their_traces, strict=True):
            assert sorted(t) == sorted(u)
            for key in t:
                torch.testing.assert_close(
                    torch.from_numpy(t[key]), torch.from_numpy(u[key]), atol=tol * 10, rtol=tol
                )


def test_find_peaks_as_e3nns():
    with default_dtype(torch.float64):
        ours, theirs = io.SphericalTensor(4, 1, -1), e3nn.io.SphericalTensor(4, 1, -1)
        x = ours.with_peaks_at(torch.tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0], [-1.0, -1, 3]]))
        pos, val = ours.find_peaks(x, res=60)
        their_pos, their_val = theirs.find_peaks(x, res=60)
        # The same peaks; e3nn's order comes from a set, so compare sorted by value.
        order, their_order = val.argsort(), their_val.argsort()
        torch.testing.assert_close(val[order], their_val[their_order])
        torch.testing.assert_close(pos[order], their_pos[their_order])


def test_empty_inputs_as_e3nns():
    s, t = io.SphericalTensor(7, 1, -1), e3nn.io.SphericalTensor(7, 1, -1)
    assert s.sum_of_diracs(torch.empty(1, 0, 2, 3), torch.empty(2, 0, 1)).shape == (2, 0, 64)
    assert s.from_samples_on_s2(torch.empty(2, 0, 10, 3), torch.empty(2, 0, 10)).shape == (
        t.from_samples_on_s2(torch.empty(2, 0, 10, 3), torch.empty(2, 0, 10)).shape
    )
    assert s.with_peaks_at(torch.empty(0, 3)).shape == (64,)


def test_odd_values_evaluate_and_refuse_peaks():
    s = io.SphericalTensor(2, -1, 1)
    x = torch.randn(9)
    # e3nn's signal_xyz refuses p_val = -1 (its harmonics check parities); the values are the same.
    expected = e3nn.io.SphericalTensor(2, 1, 1).signal_xyz(x, torch.eye(3))
    torch.testing.assert_close(s.signal_xyz(x, torch.eye(3)), expected)
    with pytest.raises(ArgumentError, match="p_val"):
        s.with_peaks_at(torch.eye(3))
    with pytest.raises(ArgumentError, match="p_val and p_arg"):
        io.SphericalTensor(2, 0, 1)
    with pytest.raises(ShapeError, match="one vector"):
        io.SphericalTensor(2, 1, 1).plot(torch.zeros(2, 9))
    with pytest.raises(AssertionError, match="raise lmax"):
        io.SphericalTensor(1, 1, 1).with_peaks_at(torch.randn(10, 3))
