// The BLAS behind graph_conv's CPU kernels. torch's CPU library exports the
// Fortran BLAS entry points (sgemm_/dgemm_, MKL on x86-64 wheels); calling them
// directly costs well under a microsecond per call, against several for an
// at::mm on wrapped pointers, and the kernels make a few calls per sample.
// Where a build of torch exports no such symbol the weak references stay null
// and at::mm / addmm_ on the same memory do the work.
#include "graph_conv/graph_conv_blas.h"

#include <climits>

#include <ATen/ATen.h>

#if defined(__GNUC__) && !defined(_WIN32)
#define CPSTN_WEAK_BLAS 1
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc) __attribute__((weak));
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc) __attribute__((weak));
}
#endif

namespace cpstn {
namespace {

template <typename scalar_t>
using FortranGemm = void (*)(const char*, const char*, const int*, const int*, const int*, const scalar_t*,
                             const scalar_t*, const int*, const scalar_t*, const int*, const scalar_t*,
                             scalar_t*, const int*);

template <typename scalar_t>
FortranGemm<scalar_t> fortran_gemm() {
#ifdef CPSTN_WEAK_BLAS
  if constexpr (std::is_same_v<scalar_t, float>) return &sgemm_;
  else return &dgemm_;
#else
  return nullptr;
#endif
}

template <typename scalar_t>
void gemm_aten(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const scalar_t* a, int64_t lda,
               const scalar_t* b, int64_t ldb, scalar_t beta, scalar_t* c, int64_t ldc) {
  const auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value);
  auto view = [&](const scalar_t* p, int64_t rows, int64_t cols, int64_t ld, bool trans) {
    return at::from_blob(const_cast<scalar_t*>(p), {rows, cols},
                         trans ? at::IntArrayRef{1, ld} : at::IntArrayRef{ld, 1}, opt);
  };
  at::Tensor C = at::from_blob(c, {M, N}, {ldc, 1}, opt);
  if (beta == scalar_t(0)) at::mm_out(C, view(a, M, K, lda, trans_a), view(b, K, N, ldb, trans_b));
  else C.addmm_(view(a, M, K, lda, trans_a), view(b, K, N, ldb, trans_b), beta, 1);
}

}  // namespace

template <typename scalar_t>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const scalar_t* a, int64_t lda,
          const scalar_t* b, int64_t ldb, scalar_t beta, scalar_t* c, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty contraction: C = beta * C (BLAS would reject the zero leading dimensions)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == scalar_t(0) ? scalar_t(0) : beta * c[i * ldc + j];
    return;
  }
  FortranGemm<scalar_t> f = fortran_gemm<scalar_t>();
  const int64_t big = std::max({M, N, K, lda, ldb, ldc});
  if (f == nullptr || big > INT_MAX) {
    gemm_aten(trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Column-major BLAS sees each row-major matrix as its transpose: C^T = op(B)^T op(A)^T.
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  const int m = int(N), n = int(M), k = int(K), la = int(ldb), lb = int(lda), lc = int(ldc);
  const scalar_t one = 1;
  f(&ta, &tb, &m, &n, &k, &one, b, &la, a, &lb, &beta, c, &lc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace cpstn
