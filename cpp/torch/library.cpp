// Every e3core op schema, in one TORCH_LIBRARY. Kernels register per backend in the
// *_cpu.cpp, *_meta.cpp and *_autograd.cpp files beside this one.
#include <torch/library.h>

TORCH_LIBRARY(e3core, m) {
  // Pair lists: integer outputs whose length depends on the data (fake kernels in Python give
  // them a dynamic size). Distances and vectors are computed from them in torch, with autograd.
  m.def(
      "neighbor_list(Tensor positions, float cutoff, Tensor? cell, bool[3] pbc, "
      "bool self_interaction, bool full_list, bool sorted) -> (Tensor i, Tensor j, Tensor S)");
  m.def(
      "radius_graph(Tensor positions, float r_max, Tensor? batch, bool loop, "
      "int? max_num_neighbors) -> Tensor");
  m.def("spherical_harmonics(Tensor x, int lmax, bool normalize, str normalization) -> Tensor");
  m.def(
      "spherical_harmonics_backward(Tensor grad_sh, Tensor x, int lmax, bool normalize, "
      "str normalization) -> Tensor");
  m.def(
      "spherical_harmonics_double_backward(Tensor grad_grad_x, Tensor grad_sh, Tensor x, int lmax, "
      "bool normalize, str normalization) -> (Tensor, Tensor)");
  // A tensor product computes one of its four slots (x1, x2, weight, out) from the other three:
  // the product itself, or the gradient with respect to x1, x2 or the weights given grad_out.
  // `plan` is TpPlan::encode() in an int64 tensor. With src and dst it is the fused
  // convolution: sample e reads x1[src[e]] and adds into out[dst[e]]. The result's shape is
  // given, so that shapes are known without reading the plan.
  m.def(
      "tensor_product(Tensor x1, Tensor x2, Tensor weight, Tensor plan, Tensor? src, "
      "Tensor? dst, SymInt[] out_shape) -> Tensor");
  m.def(
      "tensor_product_grad_x1(Tensor x2, Tensor weight, Tensor grad_out, Tensor plan, "
      "Tensor? src, Tensor? dst, SymInt[] x1_shape) -> Tensor");
  m.def(
      "tensor_product_grad_x2(Tensor x1, Tensor weight, Tensor grad_out, Tensor plan, "
      "Tensor? src, Tensor? dst, SymInt[] x2_shape) -> Tensor");
  m.def(
      "tensor_product_grad_weight(Tensor x1, Tensor x2, Tensor grad_out, Tensor plan, "
      "Tensor? src, Tensor? dst, SymInt[] weight_shape) -> Tensor");
  // The three gradients at once (those in output_mask; the others are empty), in one pass over
  // the samples: the backward of tensor_product.
  m.def(
      "tensor_product_backward(Tensor x1, Tensor x2, Tensor weight, Tensor grad_out, Tensor plan, "
      "Tensor? src, Tensor? dst, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  // tensor_product_backward's derivatives (training on forces) given the tangents dx1, dx2,
  // dweight of its three results (absent: zero): the derivatives with respect to x1, x2, weight
  // and grad_out, those in output_mask (the others are empty), without a graph of their own.
  // A convolution on the CPU runs in two passes over its edges; the rest composes the ops above.
  m.def(
      "tensor_product_double_backward(Tensor x1, Tensor x2, Tensor weight, Tensor grad_out, "
      "Tensor? dx1, Tensor? dx2, Tensor? dweight, Tensor plan, Tensor? src, Tensor? dst, "
      "bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
  // SiLU, x * sigmoid(x), with the values of torch's: the radial networks' activation. Its
  // second derivative (training on forces) is one fused pass instead of autograd's dozen
  // elementwise ops over a (edges, hidden) tensor.
  m.def("silu(Tensor x) -> Tensor");
  // Real Wigner D matrices of e3nn's Y-X-Y Euler angles, or the partial derivative of the given
  // orders in (alpha, beta, gamma): the derivatives are the op itself with higher orders, so it
  // is differentiable to any order. Angles of one shape; the result is (..., 2l+1, 2l+1).
  m.def("wigner_D(Tensor alpha, Tensor beta, Tensor gamma, int l, int[3] order) -> Tensor");
  m.def("silu_backward(Tensor grad, Tensor x) -> Tensor");
  m.def(
      "silu_double_backward(Tensor grad_grad_x, Tensor grad, Tensor x) -> (Tensor grad_grad, "
      "Tensor grad_x)");
}
