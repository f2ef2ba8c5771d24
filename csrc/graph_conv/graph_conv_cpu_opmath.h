// Storage type vs compute type in the CPU kernels. Every GEMM runs in the opmath type
// (float32 for bfloat16, else the storage type): a bfloat16 sample's tiles are widened
// to float32 once when read and rounded once when stored, and the intermediates (XA, Z,
// H, GA) stay float32. Why not a bfloat16 GEMM: MKL's gemm_bf16bf16f32 ran these per-sample
// shapes no faster than sgemm (slower at the 25x25 graph multiplies) on a CPU with
// AVX-512-BF16 and no AMX (benchmarks/bench_bf16_gemm.py). Where the CPU has a bfloat16
// matrix unit, ops.graph_conv sends bfloat16 to the composed order instead (oneDNN).
// Parameters are read at their own precision (float32 weights are not rounded to bfloat16).
#pragma once

#include <cstdint>
#include <type_traits>

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

namespace cpstn {

template <typename scalar_t>
constexpr bool widened = !std::is_same_v<scalar_t, at::opmath_type<scalar_t>>;

template <typename scalar_t>
at::ScalarType opmath_dtype() {
  return c10::CppTypeToScalarType<at::opmath_type<scalar_t>>::value;
}

// A parameter (weight, bias, A) as a GEMM operand in the compute type, contiguous.
template <typename scalar_t>
at::Tensor as_operand(const at::Tensor& t) {
  return t.to(opmath_dtype<scalar_t>()).contiguous();
}

// n elements of a sample's tile in the compute type: src itself, or its copy widened into buf.
template <typename scalar_t>
const at::opmath_type<scalar_t>* widen(const scalar_t* src, int64_t n, at::opmath_type<scalar_t>* buf) {
  if constexpr (!widened<scalar_t>) {
    return src;
  } else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<at::opmath_type<scalar_t>>(src[i]);
    return buf;
  }
}

// Where the sums belonging in dst are computed: dst itself, or buf (then narrow() stores them).
template <typename scalar_t>
at::opmath_type<scalar_t>* result_tile(scalar_t* dst, at::opmath_type<scalar_t>* buf) {
  if constexpr (!widened<scalar_t>) return dst;
  else return buf;
}

// Rounds n sums computed in result_tile(dst, ...) into dst (nothing to do when it was dst).
template <typename scalar_t>
void narrow(const at::opmath_type<scalar_t>* sums, int64_t n, scalar_t* dst) {
  if constexpr (widened<scalar_t>)
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<scalar_t>(sums[i]);
}

}  // namespace cpstn
