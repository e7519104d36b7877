#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "e3core/irreps.hpp"

using e3core::Irrep;
using e3core::Irreps;
using e3core::MulIr;
using e3core::Slice;

namespace {

// The message of the std::invalid_argument thrown by `fn`, or "" if nothing was thrown.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string irreps_error(const std::string& text) {
  return error_of([&] { Irreps::parse(text); });
}

std::vector<std::string> strs(const std::vector<Irrep>& irs) {
  std::vector<std::string> out;
  for (const auto& ir : irs) out.push_back(ir.str());
  return out;
}

}  // namespace

TEST(Irrep, ParsesEoAndY) {
  EXPECT_EQ(Irrep::parse("1e"), Irrep(1, 1));
  EXPECT_EQ(Irrep::parse("0o"), Irrep(0, -1));
  EXPECT_EQ(Irrep::parse("3y"), Irrep(3, -1));
  EXPECT_EQ(Irrep::parse("2y"), Irrep(2, 1));
  EXPECT_EQ(Irrep::parse("  12o\t"), Irrep(12, -1));
}

TEST(Irrep, ParsesLLikePythonInt) {
  // e3nn reads l with int(), which allows inner whitespace before the parity, a sign and "_".
  EXPECT_EQ(Irrep::parse("1 e"), Irrep(1, 1));
  EXPECT_EQ(Irrep::parse("+2o"), Irrep(2, -1));
  EXPECT_EQ(Irrep::parse("-0e"), Irrep(0, 1));
  EXPECT_EQ(Irrep::parse("1_0e"), Irrep(10, 1));
  EXPECT_EQ(Irrep::parse("007o"), Irrep(7, -1));
}

TEST(Irrep, StrDimScalar) {
  EXPECT_EQ(Irrep(2, -1).str(), "2o");
  EXPECT_EQ(Irrep(0, 1).str(), "0e");
  EXPECT_EQ(Irrep(3, 1).dim(), 7);
  EXPECT_TRUE(Irrep(0, 1).is_scalar());
  EXPECT_FALSE(Irrep(0, -1).is_scalar());
  EXPECT_FALSE(Irrep(1, 1).is_scalar());
}

TEST(Irrep, RejectsBadValues) {
  EXPECT_EQ(error_of([] { Irrep(-1, 1); }), "Irrep(l=-1, p=1): l must be >= 0");
  EXPECT_EQ(error_of([] { Irrep(1, 0); }), "Irrep(l=1, p=0): parity p must be 1 or -1");
  EXPECT_EQ(error_of([] { MulIr(-2, Irrep(1, 1)); }),
            "MulIr(mul=-2, ir=1e): multiplicity must be >= 0");
}

TEST(Irrep, MalformedStringsSayWhatIsWrong) {
  EXPECT_EQ(error_of([] { Irrep::parse("0q"); }),
            "Irrep(\"0q\"): \"0q\" has parity \"q\", expected \"e\", \"o\" or \"y\"");
  EXPECT_EQ(error_of([] { Irrep::parse("-1e"); }), "Irrep(\"-1e\"): \"-1e\" has negative l = -1");
  EXPECT_EQ(error_of([] { Irrep::parse("12"); }),
            "Irrep(\"12\"): \"12\" has no parity letter after l, expected \"e\", \"o\" or \"y\"");
  EXPECT_EQ(error_of([] { Irrep::parse("e"); }), "Irrep(\"e\"): \"e\" has no l before the parity");
  EXPECT_EQ(error_of([] { Irrep::parse(" "); }), "Irrep(\" \"): empty irrep, expected e.g. \"1o\"");
  EXPECT_EQ(error_of([] { Irrep::parse("1.5e"); }),
            "Irrep(\"1.5e\"): \"1.5e\" has l = \"1.5\", which is not an integer");
  EXPECT_EQ(error_of([] { Irrep::parse("1e2o"); }),
            "Irrep(\"1e2o\"): \"1e2o\" has l = \"1e2\", which is not an integer");
  EXPECT_EQ(error_of([] { Irrep::parse("99999999999e"); }),
            "Irrep(\"99999999999e\"): \"99999999999e\" has l = 99999999999, which is too large");
  EXPECT_EQ(error_of([] { Irrep::parse("99999999999999999999e"); }),
            "Irrep(\"99999999999999999999e\"): \"99999999999999999999e\" has l = "
            "99999999999999999999, which is too large");
  // int() rejects these, so e3nn does too.
  for (const char* bad : {"1__0e", "_1e", "1_e", "- 1e", "+-1e", "1E", "x1e"}) {
    EXPECT_NE(error_of([&] { Irrep::parse(bad); }), "") << bad;
  }
}

TEST(Irrep, OrderedLikeE3nnTuples) {
  const Irrep o0(0, -1), e0(0, 1), o1(1, -1), e1(1, 1);
  EXPECT_LT(o0, e0);
  EXPECT_LT(e0, o1);
  EXPECT_LT(o1, e1);
  EXPECT_GT(e1, o0);
  EXPECT_LE(e1, e1);
  EXPECT_GE(e1, o1);
  EXPECT_NE(o0, e0);
  std::unordered_set<Irrep> set{o0, e0, o1, e1, Irrep(1, 1)};
  EXPECT_EQ(set.size(), 4u);
}

TEST(Irrep, Product) {
  EXPECT_EQ(strs(Irrep(1, -1) * Irrep(1, -1)), (std::vector<std::string>{"0e", "1e", "2e"}));
  EXPECT_EQ(strs(Irrep(2, 1) * Irrep(3, -1)),
            (std::vector<std::string>{"1o", "2o", "3o", "4o", "5o"}));
  EXPECT_EQ(strs(Irrep(0, -1) * Irrep(2, -1)), (std::vector<std::string>{"2e"}));
}

TEST(Irrep, IteratorOrder) {
  EXPECT_EQ(strs(Irrep::iterator(2)),
            (std::vector<std::string>{"0e", "0o", "1o", "1e", "2e", "2o"}));
  EXPECT_EQ(strs(Irrep::iterator(0)), (std::vector<std::string>{"0e", "0o"}));
  EXPECT_EQ(error_of([] { Irrep::iterator(-1); }), "Irrep.iterator(lmax=-1): lmax must be >= 0");
}

TEST(Irreps, ParsesAndPrints) {
  EXPECT_EQ(Irreps::parse("16x0e+8x1o").str(), "16x0e+8x1o");
  EXPECT_EQ(Irreps::parse("1e").str(), "1x1e");
  EXPECT_EQ(Irreps::parse("2x3e + 1x0o").str(), "2x3e+1x0o");
  EXPECT_EQ(Irreps::parse(" 2 x 3y +0x1y ").str(), "2x3o+0x1o");
  EXPECT_EQ(Irreps::parse("1_6x0e").str(), "16x0e");
  EXPECT_EQ(Irreps::parse("-0x0e").str(), "0x0e");
  EXPECT_TRUE(Irreps::parse("").empty());
  EXPECT_TRUE(Irreps::parse(" \t ").empty());
  EXPECT_EQ(Irreps().str(), "");
  EXPECT_EQ(Irreps(Irrep(2, -1)).str(), "1x2o");
  EXPECT_EQ(Irreps::parse("3x1o+2e")[1], MulIr(1, Irrep(2, 1)));
}

TEST(Irreps, MalformedStringsQuoteTheInputAndSayWhatIsWrong) {
  EXPECT_EQ(irreps_error("16x0q"),
            "Irreps(\"16x0q\"): \"0q\" has parity \"q\", expected \"e\", \"o\" or \"y\"");
  EXPECT_EQ(irreps_error("1e++2o"),
            "Irreps(\"1e++2o\"): term 2 of 3 is empty (terms are separated by \"+\")");
  EXPECT_EQ(irreps_error("1e+"),
            "Irreps(\"1e+\"): term 2 of 2 is empty (terms are separated by \"+\")");
  EXPECT_EQ(irreps_error("ax1e"),
            "Irreps(\"ax1e\"): \"ax1e\" has multiplicity \"a\", which is not an integer");
  EXPECT_EQ(irreps_error("x1e"), "Irreps(\"x1e\"): \"x1e\" has no multiplicity before \"x\"");
  EXPECT_EQ(irreps_error("-2x1e"), "Irreps(\"-2x1e\"): \"-2x1e\" has negative multiplicity -2");
  EXPECT_EQ(irreps_error("99999999999999999999x1e"),
            "Irreps(\"99999999999999999999x1e\"): \"99999999999999999999x1e\" has multiplicity "
            "99999999999999999999, which is too large");
  EXPECT_EQ(irreps_error("2x-1e"), "Irreps(\"2x-1e\"): \"-1e\" has negative l = -1");
  EXPECT_EQ(irreps_error("2x1"),
            "Irreps(\"2x1\"): \"1\" has no parity letter after l, expected \"e\", \"o\" or \"y\"");
  EXPECT_EQ(irreps_error("2x"), "Irreps(\"2x\"): empty irrep, expected e.g. \"1o\"");
  EXPECT_EQ(irreps_error("2x3x1e"), "Irreps(\"2x3x1e\"): \"2x3x1e\" has more than one \"x\"");
  EXPECT_EQ(irreps_error("1e 2o"),
            "Irreps(\"1e 2o\"): \"1e 2o\" has l = \"1e 2\", which is not an integer");
  EXPECT_EQ(irreps_error("1e+2oo"),
            "Irreps(\"1e+2oo\"): \"2oo\" has l = \"2o\", which is not an integer");
}

TEST(Irreps, NonAsciiBytesAreNamedNotSplit) {
  const std::string ascii_only =
      " is not ASCII; irreps strings are made of digits, \"x\", \"e\", \"o\", \"y\", \"+\" and "
      "spaces";
  // "\xc3\xa9" is a two-byte character: the parser must not take its last byte as the parity.
  EXPECT_EQ(irreps_error("1x0e\xc3\xa9"),
            "Irreps(\"1x0e\xc3\xa9\"): byte 4 (0xc3)" + ascii_only);
  EXPECT_EQ(error_of([] { Irrep::parse("1\xff"); }), "Irrep(\"1\xff\"): byte 1 (0xff)" + ascii_only);
}

TEST(Irreps, DimNumIrrepsLsLmax) {
  const Irreps x = Irreps::parse("2x0e+0x3o+3x1o");
  EXPECT_EQ(x.dim(), 11);
  EXPECT_EQ(x.num_irreps(), 5);
  EXPECT_EQ(x.ls(), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_EQ(x.lmax(), 1);  // the 0x3o term has no copies
  EXPECT_EQ(error_of([] { Irreps().lmax(); }),
            "Irreps(\"\").lmax: Cannot get lmax of empty Irreps");
  EXPECT_EQ(error_of([] { Irreps::parse("0x2e").lmax(); }),
            "Irreps(\"0x2e\").lmax: every multiplicity is 0, so there is no l");
}

TEST(Irreps, SlicesCountContains) {
  const Irreps x = Irreps::parse("2x0e+1e+0x2o+3x0e");
  EXPECT_EQ(x.slices(), (std::vector<Slice>{{0, 2}, {2, 5}, {5, 5}, {5, 8}}));
  EXPECT_EQ(x.count(Irrep(0, 1)), 5);
  EXPECT_EQ(x.count(Irrep(0, -1)), 0);
  EXPECT_TRUE(x.contains(Irrep(2, -1)));
  EXPECT_FALSE(x.contains(Irrep(2, 1)));
}

TEST(Irreps, SimplifyMergesOnlyAdjacentAndDropsZeros) {
  EXPECT_EQ(Irreps::parse("1e + 1e + 0e").simplify().str(), "2x1e+1x0e");
  EXPECT_EQ(Irreps::parse("1e + 1e + 0e + 1e").simplify().str(), "2x1e+1x0e+1x1e");
  EXPECT_EQ(Irreps::parse("0x0e + 1e + 0x1o + 1e + 0x1e").simplify().str(), "2x1e");
  EXPECT_EQ(Irreps::parse("1e + 0x0e + 2x1e").simplify().str(), "3x1e");
  EXPECT_EQ(Irreps::parse("4x0e + 0x1o + 2x3e").remove_zero_multiplicities().str(), "4x0e+2x3e");
}

TEST(Irreps, SortMatchesE3nnPermutations) {
  const auto s = Irreps::parse("2o + 1e + 0e + 1e").sort();
  EXPECT_EQ(s.irreps.str(), "1x0e+1x1e+1x1e+1x2o");
  EXPECT_EQ(s.p, (std::vector<int64_t>{3, 1, 0, 2}));
  EXPECT_EQ(s.inv, (std::vector<int64_t>{2, 1, 3, 0}));
  // Ties keep their original order; 0o sorts before 0e.
  const auto t = Irreps::parse("3x0e + 0o + 2x0e + 1o").sort();
  EXPECT_EQ(t.irreps.str(), "1x0o+3x0e+2x0e+1x1o");
  EXPECT_EQ(t.inv, (std::vector<int64_t>{1, 0, 2, 3}));
  EXPECT_TRUE(Irreps().sort().p.empty());
}

TEST(Irreps, Regroup) {
  EXPECT_EQ(Irreps::parse("1e + 0e + 1e + 0x2e").regroup().str(), "1x0e+2x1e");
  EXPECT_EQ(Irreps::parse("1o + 0e + 1e + 3x1o").regroup().str(), "1x0e+4x1o+1x1e");
}

TEST(Irreps, Filter) {
  const Irreps x = Irreps::parse("1e + 2e + 0e + 3x1e");
  EXPECT_EQ(x.filter_keep({Irrep(0, 1), Irrep(1, 1)}).str(), "1x1e+1x0e+3x1e");
  EXPECT_EQ(x.filter_drop({Irrep(1, 1)}).str(), "1x2e+1x0e");
  EXPECT_EQ(x.filter_keep({}).str(), "");
  EXPECT_EQ(x.filter_lmax(1).str(), "1x1e+1x0e+3x1e");
}

TEST(Irreps, SliceByMul) {
  const Irreps x = Irreps::parse("3x0e + 0x1o + 2x1e");
  EXPECT_EQ(x.slice_by_mul(1, 4).str(), "2x0e+0x1o+1x1e");
  EXPECT_EQ(x.slice_by_mul(0, 5).str(), x.str());
  EXPECT_EQ(x.slice_by_mul(-3, 99).str(), x.str());
  EXPECT_EQ(x.slice_by_mul(3, 3).str(), "0x1o");
  EXPECT_EQ(x.slice_by_mul(4, 4).str(), "0x1e");  // as e3nn
  EXPECT_EQ(x.slice_by_mul(4, 2).str(), "0x1e");
  EXPECT_EQ(Irreps::parse("5x0e").slice_by_mul(3, 1).str(), "0x0e");
}

TEST(Irreps, ConcatenateAndRepeat) {
  const Irreps a = Irreps::parse("0e+1o");
  EXPECT_EQ((a + Irreps::parse("2x1o")).str(), "1x0e+1x1o+2x1o");
  EXPECT_EQ((3 * a).str(), "1x0e+1x1o+1x0e+1x1o+1x0e+1x1o");
  EXPECT_EQ((a * 2).str(), "1x0e+1x1o+1x0e+1x1o");
  EXPECT_TRUE(a.repeat(0).empty());
  EXPECT_TRUE(a.repeat(-1).empty());
}

TEST(Irreps, SphericalHarmonics) {
  EXPECT_EQ(Irreps::spherical_harmonics(3).str(), "1x0e+1x1o+1x2e+1x3o");
  EXPECT_EQ(Irreps::spherical_harmonics(2, 1).str(), "1x0e+1x1e+1x2e");
  EXPECT_EQ(Irreps::spherical_harmonics(0).str(), "1x0e");
  EXPECT_NE(error_of([] { Irreps::spherical_harmonics(-1); }), "");
  EXPECT_EQ(error_of([] { Irreps::spherical_harmonics(2, 0); }),
            "Irreps.spherical_harmonics(lmax=2, p=0): expected lmax >= 0 and p equal to 1 or -1");
}

TEST(Irreps, ProductListsEveryPath) {
  EXPECT_EQ(e3core::product(Irreps::parse("2x0e+1o"), Irreps::parse("3x1o")).str(),
            "6x1o+3x0e+3x1e+3x2e");
  EXPECT_TRUE(e3core::product(Irreps(), Irreps::parse("1o")).empty());
}

TEST(Irreps, Equality) {
  EXPECT_EQ(Irreps::parse("2x1o"), Irreps::parse(" 2x1y"));
  EXPECT_NE(Irreps::parse("2x1o"), Irreps::parse("1o+1o"));
}

// Issue 15: sizes past int64 were negative (wrapped); now they name the irreps and the limit.
TEST(Irreps, SizesThatOverflowInt64Throw) {
  const Irreps big = Irreps::parse("4611686018427387904x1e");
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::overflow_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([&] { big.dim(); }),
            "Irreps(\"4611686018427387904x1e\").dim exceeds the int64 limit 9223372036854775807");
  EXPECT_EQ(message([&] { big[0].dim(); }),
            "4611686018427387904x1e: dim = mul * (2l + 1) exceeds the int64 limit "
            "9223372036854775807");
  EXPECT_NE(message([&] { big.slices(); }).find(".slices() exceeds the int64 limit"),
            std::string::npos);
  const Irreps two = 2 * big;
  EXPECT_NE(message([&] { two.num_irreps(); }).find(".num_irreps exceeds"), std::string::npos);
  EXPECT_NE(message([&] { two.count(Irrep::parse("1e")); }).find(".count() exceeds"),
            std::string::npos);
  EXPECT_NE(message([&] { two.simplify(); }).find("simplify()"), std::string::npos);
  EXPECT_NE(message([&] { e3core::product(big, big); }).find("mul1 * mul2"), std::string::npos);
  EXPECT_EQ(Irreps::parse("3074457345618258602x1e").dim(), 9223372036854775806);
  try {
    big.ls();
    FAIL() << "no error";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find(").ls: 4611686018427387904 values are more than"),
              std::string::npos)
        << e.what();
  }
}
