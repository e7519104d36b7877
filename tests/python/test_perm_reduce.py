"""Permutations (math.perm), symmetry formulas and permutation bases (math.germinate_formulas,
math.reduce_permutation) against e3nn."""

import math
import random

import e3nn.math
import e3nn.math.perm
import pytest
import torch
from e3core import ArgumentError
from e3core.math import germinate_formulas, perm, reduce_permutation
from e3nn_reference import default_dtype

ALL_PERMS = [e3nn.math.perm.from_int(i, n) for n in range(1, 6) for i in range(math.factorial(n))]
FORMULAS = [
    ("ij=ji", {"i": 3}),
    ("ij=-ji", {"i": 2}),
    ("ijk=jik=ikj", {"i": 3}),
    ("ijk=-jik=-ikj", {"j": 3}),
    ("ijkl=jikl=ijlk=klij", {"i": 3}),
    ("ijk=-jik", {"i": 3, "k": 2}),
    ("ijk=-jki", {"i": 2}),
    ("ij=ij", {"i": 2, "j": 4}),
]


def test_numbering_cycles_sign_as_e3nns():
    for n in range(1, 6):
        for i in range(math.factorial(n)):
            p = perm.from_int(i, n)
            assert p == e3nn.math.perm.from_int(i, n)
            assert perm.to_int(p) == e3nn.math.perm.to_int(p) == i
    for p in ALL_PERMS:
        assert perm.is_perm(p) and perm.inverse(p) == e3nn.math.perm.inverse(p)
        assert perm.to_cycles(p) == e3nn.math.perm.to_cycles(p)
        assert perm.sign(p) == e3nn.math.perm.sign(p)
        assert perm.compose(p, perm.inverse(p)) == perm.identity(len(p))
    assert not perm.is_perm((0, 2)) and not perm.is_perm((1, 1))


def test_compose_as_e3nns_and_refusals():
    random.seed(0)
    for n in range(1, 6):
        for _ in range(10):
            p1, p2 = perm.rand(n), perm.rand(n)
            assert perm.compose(p1, p2) == e3nn.math.perm.compose(p1, p2)
    for bad in [((0, 1), (0, 1, 2)), ((0, 0), (0, 1))]:
        with pytest.raises(AssertionError):
            e3nn.math.perm.compose(*bad)
        with pytest.raises(ArgumentError, match="same length"):
            perm.compose(*bad)


def test_groups_as_e3nns():
    for n in range(1, 5):
        assert perm.group(n) == e3nn.math.perm.group(n) and len(perm.group(n)) == math.factorial(n)
        assert perm.is_group(perm.group(n))
    for gens in [
        {(1, 0, 2)},
        {(1, 2, 0)},
        {(1, 0, 2, 3), (0, 1, 3, 2)},
        {(1, 2, 3, 0), (1, 0, 2, 3)},
    ]:
        g = perm.germinate(gens)
        assert g == e3nn.math.perm.germinate(gens)
        assert perm.is_group(g) and e3nn.math.perm.is_group(g)
    for not_group in [set(), {(1, 0, 2)}, {(0, 1, 2), (1, 2, 0)}]:
        assert perm.is_group(not_group) == e3nn.math.perm.is_group(not_group) is False
    with pytest.raises(AssertionError):
        perm.is_group({(0, 1), (0, 1, 2)})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_representations_as_e3nns(dtype):
    # e3nn's standard_representation builds its natural representation in the default dtype.
    with default_dtype(dtype):
        for p in ALL_PERMS:
            for name in ["natural_representation", "standard_representation"]:
                ours = getattr(perm, name)(p, dtype=dtype)
                theirs = getattr(e3nn.math.perm, name)(p, dtype=dtype)
                assert ours.dtype == dtype
                torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
    # Representations: D(p1 . p2) = D(p1) D(p2), and the standard one is orthogonal.
    for _ in range(20):
        p1, p2 = perm.rand(4), perm.rand(4)
        for rep in [perm.natural_representation, perm.standard_representation]:
            d = rep(perm.compose(p1, p2), dtype=torch.float64)
            torch.testing.assert_close(
                d, rep(p1, dtype=torch.float64) @ rep(p2, dtype=torch.float64)
            )
    s = perm.standard_representation((1, 2, 3, 0), dtype=torch.float64)
    torch.testing.assert_close(s @ s.T, torch.eye(3, dtype=torch.float64))
    vecs = torch.tensor([[0.6, 0.8, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(perm.complete_basis(vecs), e3nn.math.perm.complete_basis(vecs))


@pytest.mark.parametrize(("formula", "dims"), FORMULAS)
def test_germinate_formulas_and_reduce_permutation_as_e3nns(formula, dims):
    f0, formulas = germinate_formulas(formula)
    assert (f0, formulas) == e3nn.math.germinate_formulas(formula)
    for dtype in [torch.float32, torch.float64]:
        Q, ret = reduce_permutation(f0, formulas, dtype=dtype, **dims)
        Q_e3nn, ret_e3nn = e3nn.math.reduce_permutation(f0, formulas, dtype=dtype, **dict(dims))
        assert ret == ret_e3nn and Q.dtype == dtype
        torch.testing.assert_close(Q, Q_e3nn, atol=0, rtol=0)
    # Orthonormal, and each basis tensor obeys the formula.
    Qf = Q.flatten(1)
    torch.testing.assert_close(Qf @ Qf.T, torch.eye(len(Q), dtype=Q.dtype))
    for s, p in formulas:
        torch.testing.assert_close(Q.permute(0, *(1 + i for i in p)), s * Q)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("ij=ik",), {}, "not a permutation"),
        (("ij=jii",), {}, "not a permutation"),
        (("ij=ji",), {"i": 2, "j": 3}, "should be the same"),
        (("ijk=jik",), {"i": 2}, "no dimension"),
    ],
)
def test_errors_are_e3nns(args, kwargs, match):
    def run(module):
        return module.reduce_permutation(*module.germinate_formulas(*args), **kwargs)

    with pytest.raises(RuntimeError):
        run(e3nn.math)
    with pytest.raises(RuntimeError, match=match) as info:
        run(__import__("e3core").math)
    assert isinstance(info.value, ArgumentError)
    with pytest.raises(AssertionError):
        germinate_formulas("-ij=ji")
