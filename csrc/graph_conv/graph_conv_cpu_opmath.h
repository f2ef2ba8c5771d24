// Storage type vs sum type in the CPU kernels. A GEMM writes its sums in the opmath
// type (float32 for bfloat16); a tile that feeds the next GEMM as an operand is kept
// in the storage type. For float32/float64 the two are one type and one buffer, so
// staging and storing cost nothing; for bfloat16 the sums go to a float32 staging
// tile and are rounded once when stored.
#pragma once

#include <cstdint>
#include <type_traits>

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

namespace cpstn {

template <typename scalar_t>
constexpr bool sums_wider = !std::is_same_v<scalar_t, at::opmath_type<scalar_t>>;

// Where a GEMM whose result belongs in `dst` writes it: `dst` itself, or the staging tile.
template <typename scalar_t>
at::opmath_type<scalar_t>* staged(scalar_t* dst, at::opmath_type<scalar_t>* staging) {
  if constexpr (sums_wider<scalar_t>) return staging;
  else return dst;
}

// Moves n staged sums into `dst` (nothing to do when staged() returned dst).
template <typename scalar_t>
void store_staged(scalar_t* dst, const at::opmath_type<scalar_t>* sums, int64_t n) {
  if constexpr (sums_wider<scalar_t>)
    for (int64_t i = 0; i < n; ++i) dst[i] = scalar_t(sums[i]);
}

template <typename scalar_t>
at::ScalarType opmath_dtype() {
  return c10::CppTypeToScalarType<at::opmath_type<scalar_t>>::value;
}

// A parameter as a GEMM operand: in x's dtype (a float32 weight beside bfloat16 x is rounded once per call).
inline at::Tensor as_operand(const at::Tensor& t, const at::Tensor& x) {
  return t.to(x.scalar_type()).contiguous();
}

}  // namespace cpstn
