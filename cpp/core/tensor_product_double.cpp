// The double instantiation of the tensor-product kernels.
#include "tensor_product_double_backward.hpp"

namespace e3core {

template void tensor_product<double>(const TpCpuPlan&, TpSlot, int64_t, TpArray<double>,
                                     TpArray<double>, TpArray<double>, TpArray<double>,
                                     const Executor&);
template void tensor_product<double>(const TpPlan&, TpSlot, int64_t, TpArray<double>,
                                     TpArray<double>, TpArray<double>, TpArray<double>,
                                     const Executor&);
template void tensor_product_backward<double>(const TpCpuPlan&, int64_t, TpArray<double>,
                                              TpArray<double>, TpArray<double>, TpArray<double>,
                                              double*, double*, double*, const Executor&);
template void tensor_product_backward<double>(const TpPlan&, int64_t, TpArray<double>,
                                              TpArray<double>, TpArray<double>, TpArray<double>,
                                              double*, double*, double*, const Executor&);
template void tensor_product_conv_double_backward<double>(const TpCpuPlan&, int64_t,
                                                          TpArray<double>, TpArray<double>,
                                                          TpArray<double>, TpArray<double>,
                                                          TpArray<double>, TpArray<double>,
                                                          TpArray<double>, double*, double*,
                                                          double*, double*, const Executor&);

}  // namespace e3core
