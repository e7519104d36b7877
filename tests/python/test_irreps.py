"""e3core.o3 Irrep/Irreps against e3nn 0.6 itself."""

import copy
import doctest
import math
import pickle
import random

import e3nn.o3
import pytest
import torch
from e3core import _core
from e3core.o3 import _irreps
from e3core.o3._irreps import Irrep, Irreps, _MulIr
from e3nn_reference import default_dtype

TRICKY = [
    "",
    "   ",
    "0e",
    "1e",
    "1x1e",
    "16x0e+8x1o",
    "2x3e + 1x0o",
    " 2 x 3y +0x1y ",
    "100x0e + 50x1e + 0x2e",
    "0x0e",
    "0x0e+0x1o",
    "1e + 1e + 0e + 1e",
    "1e+0x0e+2x1e",
    "2o + 1e + 0e + 1e",
    "3x0e + 0o + 2x0e + 1o",
    "0o+0e+0o",
    "1_6x0e",
    "-0x0e",
    "007x1_0o",
    "1 e",
    "5y+4y+3y+2y+1y+0y",
    "\t1o\n+\n2e ",
    "12x12e+0x12o",
]

MALFORMED = [
    "16x0q",
    "1e++2o",
    "1e+",
    "+1e",
    "+",
    "ax1e",
    "x1e",
    "-2x1e",
    "2x-1e",
    "2x1",
    "1",
    "e",
    "2x",
    "2x3x1e",
    "1e 2o",
    "1e+2oo",
    "1.5e",
    "1E",
    "2X1e",
    "1__0e",
    "_1e",
    "- 1e",
    "1ex",
]


def both(s):
    return Irreps(s), e3nn.o3.Irreps(s)


def assert_same(ours, theirs):
    assert isinstance(ours, Irreps)
    assert str(ours) == str(theirs)
    assert tuple(ours) == tuple(theirs)


def assert_same_algebra(x, y):
    """Every e3nn property and algorithm gives the same result on x (ours) and y (e3nn's)."""
    assert_same(x, y)
    assert len(x) == len(y)
    assert x.dim == y.dim
    assert x.num_irreps == y.num_irreps
    assert x.ls == y.ls
    if y.ls:
        assert x.lmax == y.lmax
    else:
        with pytest.raises(ValueError):
            _ = x.lmax
    assert x.slices() == y.slices()
    assert_same(x.simplify(), y.simplify())
    assert_same(x.remove_zero_multiplicities(), y.remove_zero_multiplicities())
    assert_same(x.regroup(), y.regroup())
    s, t = x.sort(), y.sort()
    assert_same(s.irreps, t.irreps)
    assert s.p == t.p and s.inv == t.inv
    assert s == tuple(t)
    for ir in e3nn.o3.Irrep.iterator(4):
        assert x.count(ir) == y.count(ir)
        assert (ir in x) == (ir in y)
        assert x.count(str(ir)) == y.count(str(ir))
    assert x == y and hash(x) == hash(y)
    for i in range(len(y)):
        assert x[i] == y[i] and repr(x[i]) == repr(y[i]) and x[i].dim == y[i].dim
        assert x[i].mul == y[i].mul and x[i].ir == y[i].ir
    assert_same(x[1:], y[1:])
    assert_same(x[::-1], y[::-1])


@pytest.mark.parametrize("s", TRICKY)
def test_tricky_strings_match_e3nn(s):
    assert_same_algebra(*both(s))


def random_terms(rng):
    return [
        (rng.choice([0, 1, 1, 1, 2, 3, 16]), rng.randint(0, 4), rng.choice([1, -1]))
        for _ in range(rng.randint(0, 7))
    ]


def random_string(terms, rng):
    parts = []
    for mul, deg, p in terms:
        letter = "y" if p == (-1) ** deg and rng.random() < 0.3 else ("e" if p == 1 else "o")
        ir = f"{deg}{letter}"
        term = ir if mul == 1 and rng.random() < 0.5 else f"{mul}{rng.choice(['', ' '])}x{ir}"
        parts.append(rng.choice(["", " ", "  "]) + term + rng.choice(["", " "]))
    return "+".join(parts)


def random_pairs(n):
    rng = random.Random(1234)
    for _ in range(n):
        terms = random_terms(rng)
        yield terms, random_string(terms, rng), rng


def test_random_irreps_match_e3nn():
    for terms, s, _ in random_pairs(300):
        assert_same_algebra(*both(s))
        as_list = [(mul, (deg, p)) for mul, deg, p in terms]
        assert_same_algebra(Irreps(as_list), e3nn.o3.Irreps(as_list))


def test_random_filter_slice_by_mul_and_concatenation_match_e3nn():
    for _, s, rng in random_pairs(200):
        x, y = both(s)
        irs = [str(ir) for ir in rng.sample(list(e3nn.o3.Irrep.iterator(3)), rng.randint(0, 4))]
        assert_same(x.filter(keep=irs), y.filter(keep=irs))
        assert_same(x.filter(drop=irs), y.filter(drop=irs))
        assert_same(x.filter(keep=[Irrep(ir) for ir in irs]), y.filter(keep=irs))
        lmax = rng.randint(0, 4)
        assert_same(x.filter(lmax=lmax), y.filter(lmax=lmax))
        assert_same(x.filter(drop=lambda t: t.mul > 1), y.filter(drop=lambda t: t.mul > 1))
        assert x.filter() is x
        n = y.num_irreps
        start = rng.randint(0, n + 2)
        stop = rng.randint(start, n + 3)
        assert_same(x.slice_by_mul[start:stop], y.slice_by_mul[start:stop])
        assert_same(x.slice_by_mul[:stop], y.slice_by_mul[:stop])
        assert_same(x.slice_by_mul[-2:], y.slice_by_mul[-2:])
        other = random_string(random_terms(rng), rng)
        assert_same(x + other, y + other)
        assert_same(x + Irreps(other), y + e3nn.o3.Irreps(other))
        k = rng.randint(0, 3)
        assert_same(k * x, k * y)
        assert_same(x * k, y * k)


def test_filter_by_irreps_string_keeps_the_documented_irreps():
    # e3nn 0.6.0's own docstring values; e3nn itself returns "" and "1x1e+1x2e+1x0e" here because
    # its Irrep(_MulIr) returns an int (a bug e3core does not reproduce).
    x = Irreps("1e + 2e + 0e")
    assert str(x.filter(keep="2e + 2x1e")) == "1x1e+1x2e"
    assert str(x.filter(drop="2e + 2x1e")) == "1x0e"
    assert str(x.filter(keep=Irreps("0e"))) == "1x0e"
    assert str(x.filter(keep=Irrep("2e"))) == "1x2e"
    assert str(x.filter(drop=_MulIr(1, Irrep("2e")))) == "1x1e+1x0e"
    assert Irrep(_MulIr(3, Irrep("2e"))) == Irrep("2e")


@pytest.mark.parametrize(
    "kwargs", [{"keep": "0e", "drop": "1e"}, {"keep": "0e", "lmax": 1}, {"drop": "0e", "lmax": 1}]
)
def test_filter_rejects_two_criteria_like_e3nn(kwargs):
    with pytest.raises(ValueError) as theirs:
        e3nn.o3.Irreps("0e").filter(**kwargs)
    with pytest.raises(ValueError, match=str(theirs.value)):
        Irreps("0e").filter(**kwargs)


@pytest.mark.parametrize("s", MALFORMED)
def test_malformed_strings_raise_value_error_naming_the_input(s):
    with pytest.raises(ValueError):
        e3nn.o3.Irreps(s)
    with pytest.raises(ValueError) as err:
        Irreps(s)
    assert str(err.value).startswith(f'Irreps("{s}"): ')


def test_malformed_messages_say_what_is_wrong():
    cases = {
        "16x0q": '"0q" has parity "q", expected "e", "o" or "y"',
        "1e++2o": 'term 2 of 3 is empty (terms are separated by "+")',
        "ax1e": '"ax1e" has multiplicity "a", which is not an integer',
        "-2x1e": '"-2x1e" has negative multiplicity -2',
        "2x-1e": '"-1e" has negative l = -1',
        "2x1": '"1" has no parity letter after l, expected "e", "o" or "y"',
        "1e 2o": '"1e 2o" has l = "1e 2", which is not an integer',
    }
    for s, what in cases.items():
        with pytest.raises(ValueError) as err:
            Irreps(s)
        assert str(err.value) == f'Irreps("{s}"): {what}'
    with pytest.raises(ValueError, match=r'^Irrep\("3q"\): "3q" has parity "q"'):
        Irrep("3q")


@pytest.mark.parametrize("s", ["0e", "1o", "3y", "2y", " 4e ", "1 e", "1_0o", "-0e", "+2o"])
def test_irrep_strings_match_e3nn(s):
    ours, theirs = Irrep(s), e3nn.o3.Irrep(s)
    assert ours == theirs and repr(ours) == repr(theirs) and hash(ours) == hash(theirs)
    assert ours.l == theirs.l and ours.p == theirs.p and ours.dim == theirs.dim
    assert ours.is_scalar() == theirs.is_scalar()


@pytest.mark.parametrize("s", ["0q", "-1e", "1", "e", "", "1.5e", "1E", "1ee", "1x1e"])
def test_malformed_irrep_strings_raise(s):
    with pytest.raises(ValueError):
        e3nn.o3.Irrep(s)
    with pytest.raises(ValueError, match=rf'^Irrep\("{s}"\): '):
        Irrep(s)


def test_irrep_constructors():
    assert Irrep(2, -1) == (2, -1) and repr(Irrep(2, -1)) == "2o"
    assert Irrep((1, 1)) == Irrep("1e") == Irrep(Irrep("1e")) == Irrep(e3nn.o3.Irrep("1e"))
    assert type(Irrep(e3nn.o3.Irrep("1e"))) is Irrep
    assert Irrep(1, 1.0) == (1, 1) and type(Irrep(1, 1.0).p) is int  # e3nn accepts p = 1.0
    for bad in [(-1, 1), (1, 0), (1, 2), (1.5, 1), ("1", 1), (2, None)]:
        with pytest.raises(ValueError):
            e3nn.o3.Irrep(*bad)
        with pytest.raises(ValueError, match=r"^Irrep\(l="):
            Irrep(*bad)
    with pytest.raises(NotImplementedError):
        len(Irrep("1o"))
    with pytest.raises(NotImplementedError):
        Irrep("1o").count(1)


def test_irrep_order_product_and_iterator_match_e3nn():
    ours = list(Irrep.iterator(4))
    theirs = list(e3nn.o3.Irrep.iterator(4))
    assert ours == theirs and [repr(i) for i in ours] == [repr(i) for i in theirs]
    assert all(type(i) is Irrep for i in ours)
    rng = random.Random(0)
    shuffled = rng.sample(ours, len(ours))
    assert sorted(shuffled) == sorted(e3nn.o3.Irrep(i) for i in shuffled)
    assert Irrep("0o") < Irrep("0e") < Irrep("1o") < Irrep("1e")
    for a in ours:
        for b in ours:
            assert list(a * b) == list(e3nn.o3.Irrep(a) * e3nn.o3.Irrep(b))
        assert list(a * str(a)) == list(e3nn.o3.Irrep(a) * str(a))
    it, it3 = Irrep.iterator(), e3nn.o3.Irrep.iterator()
    assert [next(it) for _ in range(30)] == [next(it3) for _ in range(30)]
    assert list(Irrep.iterator(0)) == list(e3nn.o3.Irrep.iterator(0))
    with pytest.raises(ValueError):
        next(Irrep.iterator(-1))  # e3nn loops forever here


def test_irrep_arithmetic():
    assert_same(3 * Irrep("1e"), 3 * e3nn.o3.Irrep("1e"))
    assert_same(Irrep("1o") + Irrep("2o"), e3nn.o3.Irrep("1o") + e3nn.o3.Irrep("2o"))
    assert_same(Irrep("1o") + "2x0e", e3nn.o3.Irrep("1o") + "2x0e")
    with pytest.raises(TypeError):
        2.0 * Irrep("1e")


def test_irreps_constructors_and_conversion_with_e3nn():
    y = e3nn.o3.Irreps("2x1o+0x3e+1e")
    x = Irreps(y)
    assert_same(x, y)
    assert all(type(t) is _MulIr and type(t.ir) is Irrep for t in x)
    assert str(e3nn.o3.Irreps(x)) == str(y) and e3nn.o3.Irreps(x) == y
    assert_same(Irreps(e3nn.o3.Irrep("1o")), e3nn.o3.Irreps(e3nn.o3.Irrep("1o")))
    mixed = ["1o", Irrep("2e"), (3, "0e"), (2, (1, 1)), _MulIr(4, Irrep("0o"))]
    assert_same(Irreps(mixed), e3nn.o3.Irreps(["1o", "2e", (3, "0e"), (2, (1, 1)), (4, "0o")]))
    assert_same(Irreps([e3nn.o3.Irrep("1o"), y[0]]), e3nn.o3.Irreps(["1o", y[0]]))
    assert Irreps() == Irreps("") == Irreps(None) == () and str(Irreps()) == ""
    assert Irreps(x) is not x and Irreps(x) == x
    for bad in [[(-1, "1e")], [(1.5, "1e")], [(1, "1q")], [(1, 2, 3)]]:
        with pytest.raises(ValueError):
            e3nn.o3.Irreps(bad)
        with pytest.raises(ValueError):
            Irreps(bad)
    assert Irreps("1e") != "1e"  # like e3nn: compared as tuples
    assert e3nn.o3.Irreps("1e") != "1e"
    assert hasattr(Irreps, "_e3nn_irreps_marker")


def test_irreps_not_implemented_like_e3nn():
    with pytest.raises(NotImplementedError):
        Irreps("1e") * Irreps("1e")
    with pytest.raises(NotImplementedError):
        Irreps("1e").index("1e")
    with pytest.raises(IndexError):
        Irreps("1e").slice_by_mul[0]
    with pytest.raises(NotImplementedError):
        Irreps("2x1e").slice_by_mul[::2]
    with pytest.raises(TypeError):
        Irreps("1e") * 1.5


def test_pickle_and_deepcopy_keep_the_classes():
    x = Irreps("2x1o+0x3e+1e")
    for y in [pickle.loads(pickle.dumps(x)), copy.deepcopy(x), copy.copy(x)]:
        assert_same(y, e3nn.o3.Irreps(str(x)))
        assert type(y[0]) is _MulIr and type(y[0].ir) is Irrep


@pytest.mark.parametrize("lmax", range(6))
@pytest.mark.parametrize("p", [1, -1])
def test_spherical_harmonics_match_e3nn(lmax, p):
    assert_same(Irreps.spherical_harmonics(lmax, p), e3nn.o3.Irreps.spherical_harmonics(lmax, p))
    assert_same(Irreps.spherical_harmonics(lmax), e3nn.o3.Irreps.spherical_harmonics(lmax))


def test_core_product_is_full_tensor_product_output():
    rng = random.Random(7)
    for _ in range(8):
        a = random_string(random_terms(rng)[:3], rng)
        b = random_string(random_terms(rng)[:3], rng)
        a3, b3 = e3nn.o3.Irreps(a).simplify(), e3nn.o3.Irreps(b).simplify()
        out = Irreps(_core.irreps_product(Irreps(a3), Irreps(b3))).sort().irreps
        assert_same(out, e3nn.o3.FullTensorProduct(a3, b3).irreps_out)


def test_randn_shape_dtype_and_component_statistics():
    torch.manual_seed(0)
    x, y = both("5x0e + 10x1o + 3x2e")
    for size in [(-1,), (4, -1), (5, -1, 3)]:
        assert x.randn(*size).shape == y.randn(*size).shape
        assert (
            x.randn(*size, normalization="norm").shape == y.randn(*size, normalization="norm").shape
        )
    z = x.randn(20000, -1, dtype=torch.float64)
    assert z.dtype == torch.float64 and not z.requires_grad
    assert abs(z.mean().item()) < 0.01
    assert abs(z.var().item() - 1) < 0.01
    assert x.randn(-1, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="Normalization needs to be 'norm' or 'component'"):
        x.randn(-1, normalization="integral")


def test_randn_norm_normalization_gives_unit_irreps():
    torch.manual_seed(0)
    x = Irreps("2x0e + 3x1o + 2e")
    z = x.randn(7, -1, 2, normalization="norm", dtype=torch.float64)
    assert z.shape == (7, x.dim, 2)
    for s, (mul, ir) in zip(x.slices(), x, strict=True):
        norms = z[:, s].reshape(7, mul, ir.dim, 2).norm(dim=2)
        torch.testing.assert_close(norms, torch.ones_like(norms))
    z = x.randn(-1, normalization="norm", requires_grad=True)
    assert z.requires_grad and z.is_leaf


def random_rotations(n, generator):
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, dtype=torch.float64, generator=generator))
    return q


@pytest.fixture
def wigner_source():
    """e3nn builds its Wigner generators in the default dtype: make it float64 so that e3nn's
    float64 D matrices are accurate enough to compare with."""
    with default_dtype(torch.float64):
        yield


@pytest.mark.usefixtures("wigner_source")
def test_irrep_d_matrices_match_e3nn_up_to_l4():
    g = torch.Generator().manual_seed(0)
    R = random_rotations(6, g)  # both signs of det(R)
    R = torch.cat([R, -torch.eye(3, dtype=torch.float64)[None]])
    angles = [torch.rand(7, dtype=torch.float64, generator=g) * 2 * math.pi for _ in range(3)]
    k = torch.randint(0, 2, (7,), generator=g).to(torch.float64)
    q = torch.nn.functional.normalize(torch.randn(7, 4, dtype=torch.float64, generator=g), dim=-1)
    axis = torch.randn(7, 3, dtype=torch.float64, generator=g)
    angle = torch.rand(7, dtype=torch.float64, generator=g) * 2 * math.pi
    for ir in Irrep.iterator(4):
        theirs = e3nn.o3.Irrep(ir)
        close = torch.testing.assert_close
        close(ir.D_from_matrix(R), theirs.D_from_matrix(R))
        close(ir.D_from_angles(*angles), theirs.D_from_angles(*angles))
        close(ir.D_from_angles(*angles, k), theirs.D_from_angles(*angles, k))
        close(ir.D_from_quaternion(q, k), theirs.D_from_quaternion(q, k))
        close(ir.D_from_axis_angle(axis, angle), theirs.D_from_axis_angle(axis, angle))
    eye = -torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(Irrep("1o").D_from_matrix(eye), eye)
    torch.testing.assert_close(Irrep("1e").D_from_matrix(eye), -eye)


@pytest.mark.usefixtures("wigner_source")
def test_irreps_d_matrices_are_block_diagonal_like_e3nn():
    g = torch.Generator().manual_seed(1)
    R = random_rotations(5, g)
    angles = [torch.rand(5, dtype=torch.float64, generator=g) * 2 * math.pi for _ in range(3)]
    k = torch.randint(0, 2, (5,), generator=g).to(torch.float64)
    q = torch.nn.functional.normalize(torch.randn(5, 4, dtype=torch.float64, generator=g), dim=-1)
    axis = torch.randn(5, 3, dtype=torch.float64, generator=g)
    for s in ["2x0e + 1o + 0x2e + 2x1e + 3o + 4e", "0o+0e", "4y + 3y"]:
        x, y = both(s)
        close = torch.testing.assert_close
        close(x.D_from_matrix(R), y.D_from_matrix(R))
        close(x.D_from_angles(*angles, k), y.D_from_angles(*angles, k))
        close(x.D_from_angles(*angles), y.D_from_angles(*angles))
        close(x.D_from_quaternion(q), y.D_from_quaternion(q))
        close(x.D_from_axis_angle(axis, angles[0]), y.D_from_axis_angle(axis, angles[0]))
    assert Irreps("").D_from_matrix(R).shape == (5, 0, 0)  # e3nn fails on no irreps


@pytest.mark.usefixtures("wigner_source")
def test_docstring_examples():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tests = finder.find(_irreps, globs={"torch": torch, **vars(_irreps)})
    assert len([t for t in tests if t.examples]) > 40
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_irrep_attribute_module_like_e3nn():
    from e3core.o3 import irrep
    from e3core.o3.irrep import l1o, l2e

    assert (l1o, l2e, irrep.l3y) == (Irrep("1o"), Irrep("2e"), Irrep("3o"))
    assert type(irrep.l0e) is Irrep
    for name in ["x1o", "l", "l1q", "lo", "l-1e"]:
        with pytest.raises(AttributeError):
            getattr(e3nn.o3.irrep, name)
        with pytest.raises(AttributeError, match=name):
            getattr(irrep, name)
    result = doctest.testmod(irrep)
    assert result.failed == 0 and result.attempted == 3
