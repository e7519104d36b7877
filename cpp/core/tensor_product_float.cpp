// The float instantiation of the tensor-product kernels.
#include "tensor_product_double_backward.hpp"

namespace e3core {

template void tensor_product<float>(const TpCpuPlan&, TpSlot, int64_t, TpArray<float>,
                                    TpArray<float>, TpArray<float>, TpArray<float>,
                                    const Executor&);
template void tensor_product<float>(const TpPlan&, TpSlot, int64_t, TpArray<float>, TpArray<float>,
                                    TpArray<float>, TpArray<float>, const Executor&);
template void tensor_product_backward<float>(const TpCpuPlan&, int64_t, TpArray<float>,
                                             TpArray<float>, TpArray<float>, TpArray<float>, float*,
                                             float*, float*, const Executor&);
template void tensor_product_backward<float>(const TpPlan&, int64_t, TpArray<float>, TpArray<float>,
                                             TpArray<float>, TpArray<float>, float*, float*, float*,
                                             const Executor&);
template void tensor_product_conv_double_backward<float>(const TpCpuPlan&, int64_t, TpArray<float>,
                                                         TpArray<float>, TpArray<float>,
                                                         TpArray<float>, TpArray<float>,
                                                         TpArray<float>, TpArray<float>, float*,
                                                         float*, float*, float*, const Executor&);

}  // namespace e3core
