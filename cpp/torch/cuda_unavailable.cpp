// The CUDA entries of every op in a build without CUDA kernels: a clear error instead of torch's
// generic "could not run with arguments from the CUDA backend".
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <string>

namespace e3core::torch_ops {
namespace {

void cuda_unavailable(const c10::OperatorHandle& op, torch::jit::Stack*) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, op.schema().name(),
                              ": got a CUDA tensor, but e3core was built without CUDA kernels (no "
                              "CUDA toolkit, or E3CORE_CUDA=OFF, when it was built); reinstall it "
                              "with a CUDA toolkit present, or move the inputs to the CPU");
}

}  // namespace

// Compiled only in builds without the CUDA registrations (see CMakeLists.txt).
TORCH_LIBRARY_IMPL(e3core, CUDA, m) {
  for (const char* name : {"neighbor_list", "radius_graph", "spherical_harmonics",
                           "spherical_harmonics_backward", "spherical_harmonics_double_backward",
                           "tensor_product", "tensor_product_grad_x1", "tensor_product_grad_x2",
                           "tensor_product_grad_weight", "tensor_product_backward", "wigner_D"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&cuda_unavailable>());
  }
}

}  // namespace e3core::torch_ops
