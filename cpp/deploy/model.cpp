// e3core::Model: an exported potential (TorchScript or AOTInductor) run from C++.
#include "e3core/deploy/model.hpp"

#include <caffe2/serialize/inline_container.h>
#include <openssl/evp.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "e3core/neighbor_list.hpp"

#ifndef E3CORE_VERSION
#error "E3CORE_VERSION must be defined (the project version, set by CMake)"
#endif

namespace e3core {
namespace {

constexpr const char* kTorchScriptMetadata = "extra/e3core_metadata.json";
constexpr const char* kAotiDirectory = "data/aotinductor/";
constexpr const char* kAotiMetadataSuffix = "_metadata.json";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The leading numbers of a version ("0.1.0.dev2" -> {0, 1, 0}).
std::vector<long> parse_version(const std::string& version) {
  std::vector<long> parts;
  size_t pos = 0;
  while (pos < version.size() && std::isdigit(static_cast<unsigned char>(version[pos]))) {
    size_t end = pos;
    while (end < version.size() && std::isdigit(static_cast<unsigned char>(version[end]))) ++end;
    parts.push_back(std::stol(version.substr(pos, end - pos)));
    if (end >= version.size() || version[end] != '.') break;
    pos = end + 1;
  }
  return parts;
}

// An AOTInductor package's metadata record (the reader names records without their top folder).
bool is_aoti_metadata(const std::string& name) {
  return starts_with(name, kAotiDirectory) && ends_with(name, kAotiMetadataSuffix);
}

// Records outside the checksum: the metadata (which holds it) and the writer's id of the archive
// (a hash of every record's CRC, the metadata's included). As e3core.deploy._export._checksum.
bool unchecked_record(const std::string& name) {
  return name == kTorchScriptMetadata || is_aoti_metadata(name) || name == ".data/serialization_id";
}

// The sha256 (hex) of the archive's checked records, as e3core.train.archive_checksum: for each
// record in the order of its name, the name, a zero byte, its size as 8 little-endian bytes and
// its bytes.
std::string archive_checksum(caffe2::serialize::PyTorchStreamReader& reader) {
  std::vector<std::string> names;
  for (const std::string& name : reader.getAllRecords()) {
    if (!unchecked_record(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw ModelError("e3core::Model: OpenSSL cannot compute a sha256");
  }
  for (const std::string& name : names) {
    auto [data, size] = reader.getRecord(name);
    unsigned char header[8];
    for (int k = 0; k < 8; ++k) {
      header[k] = static_cast<unsigned char>((static_cast<uint64_t>(size) >> (8 * k)) & 0xff);
    }
    EVP_DigestUpdate(context.get(), name.data(), name.size());
    EVP_DigestUpdate(context.get(), "\0", 1);
    EVP_DigestUpdate(context.get(), header, sizeof(header));
    EVP_DigestUpdate(context.get(), data.get(), size);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int k = 0; k < length; ++k) {
    out += hex[digest[k] >> 4];
    out += hex[digest[k] & 0xf];
  }
  return out;
}

struct Archive {
  std::string format;
  std::map<std::string, std::string> metadata;
};

// The format and metadata of an exported model, read from its zip records without loading it.
Archive read_archive(const std::string& path) {
  const std::string what = "e3core::Model: '" + path + "' is not an exported e3core model (";
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error&) {
    throw ModelError(what +
                     "neither a TorchScript file nor an AOTInductor package: not a "
                     "torch zip archive)");
  }
  Archive archive;
  std::string record;
  if (reader->hasRecord(kTorchScriptMetadata)) {
    archive.format = "torchscript";
    record = kTorchScriptMetadata;
  } else {
    for (const std::string& name : reader->getAllRecords()) {
      if (is_aoti_metadata(name)) {
        archive.format = "aoti";
        record = name;
        break;
      }
    }
  }
  if (record.empty()) {
    throw ModelError(what +
                     "a torch archive without e3core's metadata; export models with "
                     "e3core.deploy.export)");
  }
  auto [data, size] = reader->getRecord(record);
  std::string text(static_cast<const char*>(data.get()), size);
  try {
    archive.metadata = nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(what + "its metadata is not a JSON object of strings: " + error.what() + ")");
  }
  for (auto it = archive.metadata.begin(); it != archive.metadata.end();) {
    it = starts_with(it->first, "AOTI_") ? archive.metadata.erase(it) : std::next(it);
  }
  if (!archive.metadata.count("e3core_version")) {
    throw ModelError(what + "its metadata has no 'e3core_version')");
  }
  auto stored = archive.metadata.find("checksum");  // exports before checksums have none
  if (stored != archive.metadata.end()) {
    std::string expected, actual;
    try {
      expected = nlohmann::json::parse(stored->second).get<std::string>();
      reader->setShouldLoadDebugSymbol(true);
      actual = archive_checksum(*reader);
    } catch (const nlohmann::json::exception& error) {
      throw ModelError("e3core::Model: '" + path + "' has a malformed metadata entry 'checksum' (" +
                       stored->second + "): " + error.what());
    } catch (const c10::Error& error) {
      throw ModelError("e3core::Model: '" + path +
                       "' is corrupted: " + error.what_without_backtrace());
    }
    if (expected != actual) {
      throw ModelError("e3core::Model: '" + path +
                       "' is corrupted: its records do not match the sha256 checksum of its "
                       "metadata; export the model again");
    }
  }
  return archive;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The value of the metadata entry `key` (itself a JSON text); ModelError if missing or malformed.
template <typename T>
T metadata_value(const std::map<std::string, std::string>& metadata, const std::string& key,
                 const std::string& path) {
  auto it = metadata.find(key);
  if (it == metadata.end()) {
    throw ModelError("e3core::Model: '" + path + "' has no metadata entry '" + key + "'");
  }
  try {
    return nlohmann::json::parse(it->second).get<T>();
  } catch (const nlohmann::json::exception& error) {
    throw ModelError("e3core::Model: '" + path + "' has a malformed metadata entry '" + key +
                     "' (" + it->second + "): " + error.what());
  }
}

}  // namespace

struct Model::Impl {
  std::string path, format, dtype_name, exported_version, model_name;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> type_names;
  double r_max = 0, receptive_field = 0;
  torch::Dtype dtype = torch::kFloat64;
  std::unique_ptr<torch::jit::Module> script;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti;

  std::vector<torch::Tensor> run(const std::vector<torch::Tensor>& inputs) const {
    if (script) {
      // Without the graph executor's optimisations (profiling, differentiable subgraphs): with
      // them, an exported NequIP took up to 1.7x the eager model's time on 2 CPU cores.
      torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
      std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
      auto outputs = script->forward(args).toTuple()->elements();
      std::vector<torch::Tensor> out;
      for (const auto& value : outputs) out.push_back(value.toTensor());
      return out;
    }
    return aoti->run(inputs);
  }
};

Model::Model(const std::string& path) : impl_(std::make_unique<Impl>()) {
  std::error_code error_code;
  if (std::filesystem::is_directory(path, error_code)) {
    throw ModelError("e3core::Model: model path '" + path +
                     "' is a directory, expected a file (a .pt or .pt2 written by "
                     "e3core.deploy.export)");
  }
  if (!std::ifstream(path).good()) {
    throw ModelError("e3core::Model: model file '" + path + "' does not exist or cannot be read");
  }
  Archive archive = read_archive(path);
  Impl& m = *impl_;
  m.path = path;
  m.format = archive.format;
  m.metadata = archive.metadata;
  m.exported_version = metadata_value<std::string>(m.metadata, "e3core_version", path);
  std::vector<long> exported = parse_version(m.exported_version);
  std::vector<long> ours = parse_version(E3CORE_VERSION);
  if (exported.size() < 2 || exported[0] != ours[0] || exported[1] != ours[1]) {
    throw ModelError("e3core::Model: '" + path + "' was exported by e3core " + m.exported_version +
                     ", but this is e3core " + E3CORE_VERSION +
                     ": major and minor versions must match; export the model again with this "
                     "version");
  }
  // Exports before contract versions existed had the first contract.
  const int contract = m.metadata.count("contract_version")
                           ? metadata_value<int>(m.metadata, "contract_version", path)
                           : 1;
  if (contract != kContractVersion) {
    throw ModelError("e3core::Model: '" + path + "' uses contract version " +
                     std::to_string(contract) + ", but this e3core runs contract version " +
                     std::to_string(kContractVersion) +
                     "; export the model again with this version");
  }
  m.r_max = metadata_value<double>(m.metadata, "r_max", path);
  m.receptive_field = metadata_value<double>(m.metadata, "receptive_field", path);
  m.type_names = metadata_value<std::vector<std::string>>(m.metadata, "type_names", path);
  m.dtype_name = metadata_value<std::string>(m.metadata, "dtype", path);
  m.model_name = metadata_value<std::string>(m.metadata, "model_name", path);
  if (!(m.r_max > 0) || !(m.receptive_field >= m.r_max) || m.type_names.empty()) {
    throw ModelError("e3core::Model: '" + path + "' has malformed metadata: r_max " +
                     std::to_string(m.r_max) + ", receptive_field " +
                     std::to_string(m.receptive_field) + " and " +
                     std::to_string(m.type_names.size()) +
                     " type names (expected r_max > 0, receptive_field >= r_max, a type)");
  }
  if (m.dtype_name == "float64") {
    m.dtype = torch::kFloat64;
  } else if (m.dtype_name == "float32") {
    m.dtype = torch::kFloat32;
  } else {
    throw ModelError("e3core::Model: '" + path + "' has dtype '" + m.dtype_name +
                     "', expected float32 or float64");
  }
  try {
    if (m.format == "torchscript") {
      m.script = std::make_unique<torch::jit::Module>(torch::jit::load(path));
    } else {
      m.aoti = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
    }
  } catch (const c10::Error& error) {
    throw ModelError("e3core::Model: cannot load " + m.format + " model '" + path +
                     "': " + error.what_without_backtrace());
  }
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

ModelResult Model::compute(const std::vector<double>& positions,
                           const std::vector<int64_t>& atom_types,
                           const std::array<double, 9>& cell,
                           const std::array<bool, 3>& pbc) const {
  const int64_t n = static_cast<int64_t>(atom_types.size());
  if (positions.size() / 3 != atom_types.size() || positions.size() % 3 != 0) {
    throw std::invalid_argument("e3core::Model::compute: positions has " +
                                std::to_string(positions.size()) + " entries but expected 3 x " +
                                std::to_string(n) + " (one row per entry of atom_types)");
  }
  return compute(positions.data(), atom_types.data(), n, cell, pbc);
}

ModelResult Model::compute(const double* positions, const int64_t* atom_types, int64_t n,
                           const std::array<double, 9>& cell, const std::array<bool, 3>& pbc,
                           int64_t n_local) const {
  const Impl& m = *impl_;
  if (n < 0 || n > std::numeric_limits<int64_t>::max() / 3) {
    throw std::invalid_argument("e3core::Model::compute: n_atoms is " + std::to_string(n) +
                                ", expected 0 <= n_atoms < 2^63 / 3");
  }
  if (n > 0 && (positions == nullptr || atom_types == nullptr)) {
    throw std::invalid_argument(
        "e3core::Model::compute: positions and atom_types must not be null for " +
        std::to_string(n) + " atoms");
  }
  if (n_local < -1 || n_local > n) {
    throw std::invalid_argument("e3core::Model::compute: n_local is " + std::to_string(n_local) +
                                ", expected -1 (all atoms) or 0.." + std::to_string(n));
  }
  const int64_t n_types = static_cast<int64_t>(m.type_names.size());
  for (int64_t k = 0; k < n; ++k) {
    if (atom_types[k] < 0 || atom_types[k] >= n_types) {
      throw std::invalid_argument("e3core::Model::compute: atom_types[" + std::to_string(k) +
                                  "] is " + std::to_string(atom_types[k]) +
                                  ", an unknown atom type: expected 0.." +
                                  std::to_string(n_types - 1) + " (" + join(m.type_names) + ")");
    }
  }
  const bool periodic = pbc[0] || pbc[1] || pbc[2];
  NeighborListOptions options;
  options.cutoff = m.r_max;
  options.pbc = pbc;
  options.full_list = true;
  options.sorted = true;
  std::vector<int64_t> edge_index, shifts;  // edge_index: 2 x E, rows j then i
  int64_t n_edges = 0;
  neighbor_list<double>(options, positions, n, periodic ? cell.data() : nullptr,
                        [&](int64_t pairs) {
                          n_edges = pairs;
                          edge_index.resize(2 * pairs);
                          shifts.resize(3 * pairs);
                          NeighborPairs<double> out;
                          out.j = edge_index.data();
                          out.i = edge_index.data() + pairs;
                          out.shifts = shifts.data();
                          return out;
                        });
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<double> cell_copy(cell.begin(), cell.end());
  torch::Tensor local = torch::ones({n}, torch::TensorOptions().dtype(torch::kBool));
  if (n_local >= 0) local.narrow(0, n_local, n - n_local).fill_(false);
  std::vector<torch::Tensor> inputs = {
      torch::from_blob(const_cast<double*>(positions), {n, 3}, f64).to(m.dtype, false, true),
      torch::from_blob(edge_index.data(), {2, n_edges}, i64).clone(),
      torch::from_blob(const_cast<int64_t*>(atom_types), {n}, i64).clone(),
      torch::from_blob(cell_copy.data(), {3, 3}, f64).to(m.dtype, false, true),
      torch::from_blob(shifts.data(), {n_edges, 3}, i64).to(m.dtype),
      local,
  };
  std::vector<torch::Tensor> outputs;
  try {
    outputs = m.run(inputs);
  } catch (const c10::Error& error) {
    throw ModelError("e3core::Model::compute: the model '" + m.path + "' failed (" +
                     std::to_string(n) + " atoms, " + std::to_string(n_edges) +
                     " edges): " + error.what_without_backtrace());
  }
  if (outputs.size() != 4) {
    throw ModelError("e3core::Model::compute: the model '" + m.path + "' returned " +
                     std::to_string(outputs.size()) +
                     " outputs, expected 4 (atomic_energy, energy, forces, virial)");
  }
  auto as_vector = [&](const torch::Tensor& t, int64_t numel, const char* name) {
    if (t.numel() != numel) {
      throw ModelError("e3core::Model::compute: the model '" + m.path + "' returned " + name +
                       " with " + std::to_string(t.numel()) + " values, expected " +
                       std::to_string(numel));
    }
    torch::Tensor c = t.detach().to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  ModelResult result;
  result.atomic_energies = as_vector(outputs[0], n, "atomic_energy");
  result.energy = as_vector(outputs[1], 1, "energy")[0];
  result.forces = as_vector(outputs[2], 3 * n, "forces");
  std::vector<double> virial = as_vector(outputs[3], 9, "virial");
  std::copy(virial.begin(), virial.end(), result.virial.begin());
  result.n_edges = n_edges;
  return result;
}

std::vector<int64_t> Model::atom_types(const std::vector<std::string>& names) const {
  std::vector<int64_t> types;
  for (size_t k = 0; k < names.size(); ++k) {
    auto it = std::find(impl_->type_names.begin(), impl_->type_names.end(), names[k]);
    if (it == impl_->type_names.end()) {
      throw std::invalid_argument(
          "e3core::Model::atom_types: names[" + std::to_string(k) + "] is '" + names[k] +
          "', an unknown atom type (the model knows " + join(impl_->type_names) + ")");
    }
    types.push_back(it - impl_->type_names.begin());
  }
  return types;
}

const std::vector<std::string>& Model::type_names() const { return impl_->type_names; }
double Model::r_max() const { return impl_->r_max; }
double Model::receptive_field() const { return impl_->receptive_field; }
const std::string& Model::model_name() const { return impl_->model_name; }
const std::string& Model::format() const { return impl_->format; }
const std::string& Model::dtype() const { return impl_->dtype_name; }
const std::string& Model::exported_version() const { return impl_->exported_version; }
const std::map<std::string, std::string>& Model::metadata() const { return impl_->metadata; }
std::string Model::version() { return E3CORE_VERSION; }

}  // namespace e3core
