"""Sizes, offsets and counts computed from input past int64 (issue 15, memory safety): each input
reported as a crash or a wrapped value now raises an error naming the field and the limit."""

import numpy as np
import pytest
import torch
from e3core import graph, o3

INT64_MAX = 2**63 - 1


def tensor_product():
    return o3.TensorProduct(
        "2x1o", "1x1o", "2x0e+2x1e", [(0, 0, 0, "uvw", True), (0, 0, 1, "uvu", True)]
    )


# Positions in the plan: a header of 5, three layouts (2 + 2, 2 + 2, 2 + 2 * 2 values), the path
# count, then path 0: mode, has_weight, mul1, mul2, mul_out, dim1, dim2, dim_out, offset1, ...
TERMS1 = 5
PATH0 = 5 + 3 + 3 + 5 + 1


@pytest.mark.parametrize(
    "at, value, message",
    [
        (PATH0 + 8, INT64_MAX - 2, "path 0: offset1 = 9223372036854775805 with mul1 = 2"),
        (PATH0 + 3, 2**62 + 1, "path 0: mul2 = 4611686018427387905, expected 0 <= mul2 <= 3"),
        (TERMS1 + 1, 6_100_000_000_000_000_000, "terms1[0] is 6100000000000000000 x dim 3"),
        (PATH0 + 11, INT64_MAX, "weight_offset = 9223372036854775807"),
    ],
)
def test_corrupt_plan_raises_naming_the_field(at, value, message):
    tp = tensor_product()
    assert tp.plan[PATH0 + 2] == 2 and tp.plan[TERMS1 + 1] == 2  # the layout assumed above
    plan = tp.plan.clone()
    plan[at] = value
    tp.plan = plan
    with pytest.raises(ValueError, match="tensor-product plan is corrupt") as info:
        tp(torch.randn(3, 6), torch.randn(3, 3))
    assert message in str(info.value)


def test_weight_numel_that_overflows_raises():
    with pytest.raises(ValueError, match=r"weight_numel\) overflow int64"):
        o3.TensorProduct("4294967296x0e", "4294967296x0e", "0e", [(0, 0, 0, "uvw", True)])


LIMIT = "exceeds the int64 limit 9223372036854775807"


@pytest.mark.parametrize(
    "compute, message",
    [
        (lambda x: x.dim, 'Irreps("4611686018427387904x1e").dim ' + LIMIT),
        (lambda x: x.slices(), 'Irreps("4611686018427387904x1e").slices() ' + LIMIT),
        (lambda x: (2 * x).num_irreps, ".num_irreps " + LIMIT),
        (lambda x: (x * 2).dim, ".dim " + LIMIT),
        (lambda x: x[0].dim, "4611686018427387904x1e: dim = mul * (2l + 1) " + LIMIT),
        (lambda x: (4611686018427387904 * o3.Irrep("1e")).dim, ".dim " + LIMIT),
        (lambda x: (2 * x).simplify(), ".simplify(): a merged multiplicity " + LIMIT),
    ],
)
def test_irreps_sizes_past_int64_raise(compute, message):
    x = o3.Irreps("4611686018427387904x1e")
    with pytest.raises(OverflowError) as info:
        compute(x)
    assert message in str(info.value)


def test_irreps_ls_too_long_for_a_list_raises():
    with pytest.raises(ValueError, match=r"\.ls: 4611686018427387904 values are more than a list"):
        _ = o3.Irreps("4611686018427387904x1e").ls


@pytest.mark.parametrize(
    "call",
    [
        lambda p, c: graph.neighbor_list("ij", p, c),
        lambda p, c: graph.neighbor_list("ij", p, c, sorted=True),
        lambda p, c: graph.neighbor_list("ijS", p.numpy(), c, np.eye(3), True),
    ],
)
@pytest.mark.parametrize("cutoff", [1.75e150, 1e200, 1.7976931348623157e308])
def test_huge_cutoff_is_rejected(call, cutoff):
    positions = torch.rand(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError) as info:
        call(positions, cutoff)
    assert "cutoff is " in str(info.value)
    assert "expected a finite number in [0, 1e100]" in str(info.value)


@pytest.mark.parametrize("sorted_", [False, True])
def test_positions_near_the_padding_are_rejected(sorted_):
    positions = torch.rand(5, 3, dtype=torch.float64) + 1e150  # gave 35 pairs, sorted=True crashed
    with pytest.raises(ValueError, match=r"expected finite coordinates of magnitude at most 1e100"):
        graph.neighbor_list("ij", positions, 1.0, sorted=sorted_)


def test_huge_r_max_is_rejected():
    positions = torch.rand(5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"r_max is .*expected a finite number in \[0, 1e100\]"):
        graph.radius_graph(positions, 1.75e150)


def test_largest_cutoff_still_works():
    positions = torch.rand(5, 3, dtype=torch.float64)
    i, j = graph.neighbor_list("ij", positions, 1e100)
    assert len(i) == 20
