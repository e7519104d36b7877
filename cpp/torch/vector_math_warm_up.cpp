// Resolves oneMKL's vector-math dispatch once, on one thread, when the op library loads.
//
// oneMKL picks each vector-math function's kernel (per precision) on its first call. When that
// first call comes from several of torch's intra-op threads at once, one thread's chunk can run
// the low-accuracy kernel (pytorch/pytorch issue 188792, oneMKL 2024.2): an exported NequIP's
// first step in a fresh C++ process then had atomic energies off by 1e-8 relative in float64,
// in about one run of three on 2 threads (the Bessel basis' sin). Later calls were exact.
// One single-element call per function and precision, before any model runs, settles it.
#include <ATen/ATen.h>

namespace {

// The functions torch computes through oneMKL's vector math (ATen/cpu/vml.h).
void warm_up_vector_math() {
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    const at::Tensor x = at::full({1}, 0.5, at::TensorOptions().dtype(dtype));
    for (const auto& op :
         {at::acos, at::asin, at::atan, at::cos, at::erf, at::erfc, at::erfinv, at::exp, at::log,
          at::log10, at::log2, at::sin, at::sqrt, at::tan, at::tanh, at::trunc}) {
      op(x);
    }
  }
}

[[maybe_unused]] const bool kWarmedUp = (warm_up_vector_math(), true);

}  // namespace
