// The CUDA entries of ops that have no CUDA kernel in this build: a clear error instead of
// torch's generic "could not run with arguments from the CUDA backend".
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <string>

namespace e3core::torch_ops {
namespace {

void cuda_unavailable(const c10::OperatorHandle& op, torch::jit::Stack*) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, op.schema().name(), ": ",
#if defined(E3CORE_TORCH_CUDA)
                              "this op has no CUDA kernel yet; move its inputs to the CPU",
#else
                              "e3core was built without CUDA kernels (no CUDA toolkit, or "
                              "E3CORE_CUDA=OFF, when it was "
                              "built); reinstall it with a CUDA toolkit present, or move the "
                              "inputs to the CPU",
#endif
                              " (got a CUDA tensor)");
}

}  // namespace

TORCH_LIBRARY_IMPL(e3core, CUDA, m) {
  const auto stub = [] { return torch::CppFunction::makeFromBoxedFunction<&cuda_unavailable>(); };
  m.impl("neighbor_list", stub());
  m.impl("radius_graph", stub());
#if !defined(E3CORE_TORCH_CUDA)
  for (const char* name :
       {"spherical_harmonics", "spherical_harmonics_backward",
        "spherical_harmonics_double_backward", "tensor_product", "tensor_product_grad_x1",
        "tensor_product_grad_x2", "tensor_product_grad_weight", "tensor_product_backward"}) {
    m.impl(name, stub());
  }
#endif
}

}  // namespace e3core::torch_ops
