// TpCpuPlan: a plan and the CPU kernels' tables of each scalar type, built once.
#include <mutex>
#include <stdexcept>
#include <utility>

#include "e3core/tensor_product.hpp"

namespace e3core {

struct TpCpuPlan::Impl {
  std::shared_ptr<const TpPlan> plan;
  std::once_flag once[2];
  Tables tables[2];
};

TpCpuPlan::TpCpuPlan(TpPlan plan) : TpCpuPlan(std::make_shared<const TpPlan>(std::move(plan))) {}

TpCpuPlan::TpCpuPlan(std::shared_ptr<const TpPlan> plan) : impl_(std::make_unique<Impl>()) {
  if (plan == nullptr) throw std::invalid_argument("TpCpuPlan: plan is null");
  impl_->plan = std::move(plan);
}

TpCpuPlan::~TpCpuPlan() = default;

const TpPlan& TpCpuPlan::plan() const { return *impl_->plan; }

const void* TpCpuPlan::tables(int type, Tables (*build)(const TpPlan&)) const {
  if (type < 0 || type > 1) throw std::invalid_argument("TpCpuPlan: type must be 0 or 1");
  std::call_once(impl_->once[type], [&] { impl_->tables[type] = build(*impl_->plan); });
  return impl_->tables[type].get();
}

}  // namespace e3core
