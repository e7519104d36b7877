// Every e3core op schema, in one TORCH_LIBRARY. Kernels register per backend in the
// *_cpu.cpp, *_meta.cpp and *_autograd.cpp files beside this one.
#include <torch/library.h>

TORCH_LIBRARY(e3core, m) {
  m.def("spherical_harmonics(Tensor x, int lmax, bool normalize, str normalization) -> Tensor");
  m.def(
      "spherical_harmonics_backward(Tensor grad_sh, Tensor x, int lmax, bool normalize, "
      "str normalization) -> Tensor");
  m.def(
      "spherical_harmonics_double_backward(Tensor grad_grad_x, Tensor grad_sh, Tensor x, int lmax, "
      "bool normalize, str normalization) -> (Tensor, Tensor)");
}
