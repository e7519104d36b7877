// A libFuzzer custom mutator for inputs made of 8-byte words (plan tensors, arrays of doubles).
// Most mutations change one word and keep the others: set it to a boundary value, add a small
// delta to it or copy another word into it. Byte-level mutations rarely do that, and a valid
// input with one field changed (an offset near INT64_MAX in a plan, a cutoff of 1e150) is what
// gets past a decoder's first checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace e3core_fuzz {

template <size_t N>
size_t mutate_words(uint8_t* data, size_t size, size_t max_size, unsigned seed,
                    const uint64_t (&values)[N]) {
  std::minstd_rand rng(seed);
  const size_t words = size / 8;
  // libFuzzer's own mutations a quarter of the time: they also grow, shrink and splice inputs.
  if (words == 0 || rng() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
  uint8_t* const at = data + 8 * (rng() % words);
  uint64_t word;
  switch (rng() % 3) {
    case 0:
      word = values[rng() % N];
      break;
    case 1:
      std::memcpy(&word, at, 8);
      word += uint64_t(int64_t(rng() % 33) - 16);
      break;
    default:
      std::memcpy(&word, data + 8 * (rng() % words), 8);
      break;
  }
  std::memcpy(at, &word, 8);
  return size;
}

}  // namespace e3core_fuzz
