// CUDA backward of cpstn::graph_conv, computing only what output_mask asks for:
//   grad_x      the forward tile kernels on grad_out with W^T and A^T;
//   grad_weight per-(k, channel tile) sums over (n,t) rows, one partial per split of rows;
//   grad_A      per-k sums over rows of a (V,V) outer product, one partial per split;
//   grad_bias   and the bias share of grad_A from gsum = sum_{n,t} grad_out (Cout,V).
// As on the CPU, backward_through_x picks which of x and grad_out the sums go through. Partials are
// summed with at::sum, so results do not depend on block scheduling.
// bfloat16/float16: the parameters are read in float32, shared tiles, accumulators and
// partials are float32; grad_x comes back in x's dtype, each parameter gradient in that
// parameter's dtype.
#include <c10/cuda/CUDAGuard.h>

#include "graph_conv/graph_conv.h"
#include "graph_conv/graph_conv_cuda_tiles.cuh"

namespace cpstn {
namespace {

constexpr int kTile = 16;  // grad_weight: (kTile x kTile) channel pairs per block, one per thread
constexpr int64_t kTargetBlocks = 1024;  // enough blocks to fill a large GPU
constexpr int64_t kMaxPartial = int64_t(1) << 24;

// partial[s,k,c,i] = sum over the rows (n,t) of split s of sum_j U_k[c][j] X_k[i][j];
// x side: X_k = x rows aggregated by A_k, U = grad_out rows; g side: U_k = grad_out rows
// aggregated by A_k^T, X = x rows.
template <typename scalar_t, bool kAggregateX, typename acc_t = at::opmath_type<scalar_t>>
__global__ void grad_weight_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                                   const acc_t* __restrict__ A, acc_t* __restrict__ partial, TileSizes s,
                                   int64_t rows, int64_t rows_per_split) {
  extern __shared__ unsigned char smem_raw[];
  const int64_t V = s.V, Cin = s.Cin, Cout = s.Cout, T = s.T;
  acc_t* us = reinterpret_cast<acc_t*>(smem_raw);  // (kTile, V)
  acc_t* xs = us + kTile * V;                       // (kTile, V)
  acc_t* raw = xs + kTile * V;                      // (kTile, V) rows before aggregation
  const int64_t c_tiles = (Cout + kTile - 1) / kTile, i_tiles = (Cin + kTile - 1) / kTile;
  const int64_t k = blockIdx.x / (c_tiles * i_tiles);
  const int64_t c0 = (blockIdx.x / i_tiles) % c_tiles * kTile, i0 = blockIdx.x % i_tiles * kTile;
  const int64_t nc = min(int64_t(kTile), Cout - c0), ni = min(int64_t(kTile), Cin - i0);
  const int64_t tc = threadIdx.x / kTile, ti = threadIdx.x % kTile;
  const int64_t r0 = blockIdx.y * rows_per_split, r1 = min(rows, r0 + rows_per_split);
  const acc_t* Ak = A + k * V * V;
  acc_t acc = acc_t(0);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / T, t = r % T;
    for (int64_t e = threadIdx.x; e < kTile * V; e += blockDim.x) {
      const int64_t row = e / V, v = e % V;
      const acc_t gv = row < nc ? acc_t(g[((n * Cout + c0 + row) * T + t) * V + v]) : acc_t(0);
      const acc_t xv = row < ni ? acc_t(x[((n * Cin + i0 + row) * T + t) * V + v]) : acc_t(0);
      (kAggregateX ? us : xs)[e] = kAggregateX ? gv : xv;
      raw[e] = kAggregateX ? xv : gv;
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < kTile * V; e += blockDim.x) {
      const int64_t row = e / V, j = e % V;
      if (kAggregateX) xs[e] = aggregate_joints(raw + row * V, Ak, V, V, 1, j);  // sum_v x[v] A[v,j]
      else us[e] = aggregate_joints(raw + row * V, Ak, V, 1, V, j);             // sum_w g[w] A[j,w]
    }
    __syncthreads();
    acc += mix_channels(us + tc * V, 1, xs + ti * V, 1, V);
    __syncthreads();
  }
  if (tc < nc && ti < ni) partial[((blockIdx.y * s.K + k) * Cout + c0 + tc) * Cin + i0 + ti] = acc;
}

// partial[s,k,v,w] = sum over the rows of split s of sum_j P_k[j][v] Q_k[j][w];
// x side: P = x rows (j over Cin), Q_k[j][w] = sum_c W[k,c,j] g[c][w];
// g side: P_k[j][v] = sum_i W[k,j,i] x[i][v] (j over Cout), Q = grad_out rows.
template <typename scalar_t, bool kMixG, typename acc_t = at::opmath_type<scalar_t>>
__global__ void grad_adjacency_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                                      const acc_t* __restrict__ W, acc_t* __restrict__ partial, TileSizes s,
                                      int64_t rows, int64_t rows_per_split, int64_t chunk) {
  extern __shared__ unsigned char smem_raw[];
  const int64_t V = s.V, Cin = s.Cin, Cout = s.Cout, T = s.T, TV = s.T * s.V, k = blockIdx.x;
  acc_t* ps = reinterpret_cast<acc_t*>(smem_raw);  // (chunk, V)
  acc_t* qs = ps + chunk * V;                       // (chunk, V)
  const int64_t J = kMixG ? Cin : Cout, o0 = blockIdx.z * int64_t(kThreads) * kPerThread;
  const int64_t r0 = blockIdx.y * rows_per_split, r1 = min(rows, r0 + rows_per_split);
  acc_t acc[kPerThread];
  for (int q = 0; q < kPerThread; ++q) acc[q] = acc_t(0);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / T, t = r % T;
    const scalar_t *gr = g + n * Cout * TV + t * V, *xr = x + n * Cin * TV + t * V;  // row (n, :, t, :)
    for (int64_t j0 = 0; j0 < J; j0 += chunk) {
      const int64_t jc = min(chunk, J - j0);
      for (int64_t e = threadIdx.x; e < jc * V; e += blockDim.x) {
        const int64_t j = j0 + e / V, v = e % V;
        if (kMixG) {
          ps[e] = acc_t(xr[j * TV + v]);
          qs[e] = mix_channels(W + k * Cout * Cin + j, Cin, gr + v, TV, Cout);
        } else {
          ps[e] = mix_channels(W + (k * Cout + j) * Cin, 1, xr + v, TV, Cin);
          qs[e] = acc_t(gr[j * TV + v]);
        }
      }
      __syncthreads();
      for (int q = 0; q < kPerThread; ++q) {
        const int64_t o = o0 + threadIdx.x + q * blockDim.x;
        if (o < V * V) acc[q] += mix_channels(ps + o / V, V, qs + o % V, V, jc);
      }
      __syncthreads();
    }
  }
  for (int q = 0; q < kPerThread; ++q) {
    const int64_t o = o0 + threadIdx.x + q * blockDim.x;
    if (o < V * V) partial[(blockIdx.y * s.K + k) * V * V + o] = acc[q];
  }
}

template <typename acc_t>
__global__ void bias_grads_kernel(const acc_t* __restrict__ gsum, const acc_t* __restrict__ bias,
                                  const acc_t* __restrict__ A, acc_t* __restrict__ grad_bias,
                                  acc_t* __restrict__ grad_A, int64_t K, int64_t Cout, int64_t V) {
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (grad_bias && e < K * Cout) grad_bias[e] = grad_bias_element(gsum, A, V, e / Cout, e % Cout);
  if (grad_A && bias && e < K * V * V) grad_A[e] += grad_adjacency_bias_share(bias, gsum, Cout, V, e / (V * V), e % V);
}

// Splits of the (n,t) rows: enough blocks in all, a bounded partial buffer.
int64_t row_splits(int64_t rows, int64_t blocks_per_split, int64_t partial_per_split) {
  const int64_t want = (kTargetBlocks + blocks_per_split - 1) / blocks_per_split;
  return std::max<int64_t>(1, std::min({rows, want, kMaxPartial / std::max<int64_t>(partial_per_split, 1)}));
}

}  // namespace

GraphConvGrads graph_conv_backward_cuda(const at::Tensor& grad_out_, const at::Tensor& x_, const at::Tensor& weight_,
                                        const std::optional<at::Tensor>& bias_, const at::Tensor& A_,
                                        std::array<bool, 4> output_mask) {
  const GraphConvShape s = check_graph_conv_backward_inputs(grad_out_, x_, weight_, bias_, A_);
  TORCH_CHECK(x_.is_cuda(), "graph_conv_backward: CUDA kernel called with x on ", x_.device());
  TORCH_CHECK(s.N * s.T < (int64_t(1) << 31), "graph_conv_backward: N*T must be < 2^31 on CUDA");
  const c10::cuda::CUDAGuard guard(x_.device());
  const bool has_bias = bias_.has_value() && bias_->defined();
  const bool need_x = output_mask[0], need_w = output_mask[1], need_b = output_mask[2] && has_bias,
             need_a = output_mask[3];
  const at::Tensor g = grad_out_.contiguous(), x = x_.contiguous();
  const int64_t N = s.N, K = s.K, Cin = s.Cin, Cout = s.Cout, T = s.T, V = s.V, rows = N * T;
  const bool x_side = backward_through_x(Cin, Cout, V, need_x, need_w, need_a);
  // each gradient in its argument's own dtype
  at::Tensor gx = need_x ? at::empty_like(x) : not_requested(x);
  at::Tensor gW = need_w ? at::zeros(weight_.sizes(), weight_.options()) : not_requested(x);
  at::Tensor gb = need_b ? at::empty({K, Cout}, bias_->options()) : not_requested(x);
  at::Tensor gA = need_a ? at::zeros(A_.sizes(), A_.options()) : not_requested(x);
  auto stream = at::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "graph_conv_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const at::TensorOptions acc_opt = x.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    // the parameters as operands in the opmath type (float32 beside bfloat16/float16 x)
    const at::Tensor W = weight_.to(acc_opt).contiguous(), A = A_.to(acc_opt).contiguous();
    const scalar_t *gp = g.const_data_ptr<scalar_t>(), *xp = x.const_data_ptr<scalar_t>();
    const acc_t *Wp = W.const_data_ptr<acc_t>(), *Ap = A.const_data_ptr<acc_t>();
    const TileSizes ts{Cin, Cout, T, V, K};
    if (need_x)  // M_k(o=i, c) = W[k,c,i], G_k(v', w') = A[k,w',v']; grad_out has Cout channels
      launch_tile_conv<scalar_t>(gp, Wp, ChannelMix{Cout * Cin, 1, Cin}, Ap, GraphMap{1, V}, nullptr,
                                 gx.mutable_data_ptr<scalar_t>(), N, TileSizes{Cout, Cin, T, V, K});
    if (need_w && rows > 0 && Cin > 0 && Cout > 0) {
      const size_t smem = 3 * kTile * V * sizeof(acc_t);
      TORCH_CHECK(smem <= size_t(kSharedBytes), "graph_conv_backward: V=", V, " is too large for the CUDA kernels");
      const int64_t blocks = K * ((Cout + kTile - 1) / kTile) * ((Cin + kTile - 1) / kTile);
      const int64_t S = row_splits(rows, blocks, K * Cout * Cin), per = (rows + S - 1) / S;
      at::Tensor partial = at::empty({S, K, Cout, Cin}, acc_opt);
      dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(S));
      if (x_side)
        grad_weight_kernel<scalar_t, true><<<grid, kTile * kTile, smem, stream>>>(
            gp, xp, Ap, partial.mutable_data_ptr<acc_t>(), ts, rows, per);
      else
        grad_weight_kernel<scalar_t, false><<<grid, kTile * kTile, smem, stream>>>(
            gp, xp, Ap, partial.mutable_data_ptr<acc_t>(), ts, rows, per);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      gW.copy_(partial.sum(0));
    }
    // grad_A is finished in the opmath type (the bias share is added below), then stored
    at::Tensor gA_sum = need_a ? at::zeros({K, V, V}, acc_opt) : at::Tensor();
    if (need_a && rows > 0 && V > 0) {
      const int64_t chunk = std::min<int64_t>(16, kSharedBytes / int64_t(2 * V * sizeof(acc_t)));
      TORCH_CHECK(chunk >= 1, "graph_conv_backward: V=", V, " is too large for the CUDA kernels");
      const int64_t out_tiles = (V * V + kThreads * kPerThread - 1) / (kThreads * kPerThread);
      const int64_t S = row_splits(rows, K * out_tiles, K * V * V), per = (rows + S - 1) / S;
      at::Tensor partial = at::empty({S, K, V, V}, acc_opt);
      dim3 grid(static_cast<unsigned>(K), static_cast<unsigned>(S), static_cast<unsigned>(out_tiles));
      const size_t smem = 2 * chunk * V * sizeof(acc_t);
      if (x_side)
        grad_adjacency_kernel<scalar_t, true><<<grid, kThreads, smem, stream>>>(
            gp, xp, Wp, partial.mutable_data_ptr<acc_t>(), ts, rows, per, chunk);
      else
        grad_adjacency_kernel<scalar_t, false><<<grid, kThreads, smem, stream>>>(
            gp, xp, Wp, partial.mutable_data_ptr<acc_t>(), ts, rows, per, chunk);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      gA_sum.copy_(partial.sum(0));
    }
    if (need_b || (need_a && has_bias)) {
      // gsum (Cout, V) and the bias terms in the opmath type, from the parameters as given
      const at::Tensor gsum = g.sum(at::IntArrayRef{0, 2}, false, c10::CppTypeToScalarType<acc_t>::value).contiguous();
      const at::Tensor bias_acc = has_bias ? bias_->to(acc_opt).contiguous() : at::Tensor();
      at::Tensor gb_sum = need_b ? at::empty({K, Cout}, acc_opt) : at::Tensor();
      const int64_t n = std::max(K * Cout, K * V * V);
      bias_grads_kernel<acc_t><<<unsigned((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
          gsum.const_data_ptr<acc_t>(), has_bias ? bias_acc.const_data_ptr<acc_t>() : nullptr,
          Ap, need_b ? gb_sum.mutable_data_ptr<acc_t>() : nullptr,
          need_a ? gA_sum.mutable_data_ptr<acc_t>() : nullptr, K, Cout, V);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (need_b) gb.copy_(gb_sum);
    }
    if (need_a) gA.copy_(gA_sum);
  });
  return {gx, gW, gb, gA};
}

}  // namespace cpstn
