// Row-major GEMM on raw pointers for the CPU kernels' per-sample tiles:
//   C(M,N) = op(A)(M,K) @ op(B)(K,N) + beta * C,   op(X) = X or X^T.
// Element (i,j) of a row-major matrix with leading dimension ld sits at [i*ld + j];
// a transposed operand is read as X^T, i.e. op(A)(i,k) = a[k*lda + i].
#pragma once

#include <cstdint>

namespace cpstn {

template <typename scalar_t>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const scalar_t* a,
          int64_t lda, const scalar_t* b, int64_t ldb, scalar_t beta, scalar_t* c, int64_t ldc);

}  // namespace cpstn
