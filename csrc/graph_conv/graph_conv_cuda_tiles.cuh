// CUDA tile kernels of cpstn::graph_conv: one block per (n, t) row and tile of
// output channels computes
//   out[n,o,t,w] = bias_tab[o,w] + sum_k sum_i M_k(o,i) sum_v in[n,i,t,v] G_k(v,w)
// with the K partial products in shared memory, never as a (N,K*C,T,V) tensor.
// Forward: in = x, M_k = W_k, G_k = A_k. grad_x is the same map transposed:
// in = grad_out, M_k = W_k^T, G_k = A_k^T, no bias — strides select the transpose.
// Like the CPU kernel, the order follows the shape: aggregate over the graph first
// when the input has fewer channels than the output, else mix channels first.
// scalar_t is the storage type of in/out; the parameters m and a, the bias table, shared
// tiles and accumulators are in acc_t = opmath_type<scalar_t> (float32 for bfloat16 and
// float16), so float32 weights are read at their own precision.
#pragma once

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "graph_conv/graph_conv_common.h"

namespace cpstn {

constexpr int kThreads = 256;
constexpr int kPerThread = 4;  // register accumulators per thread
constexpr int64_t kSharedBytes = 48 * 1024;

struct ChannelMix {  // M_k(o,i) = m[k*sk + o*so + i*si]
  int64_t sk, so, si;
};
struct GraphMap {  // G_k(v,w) = a[k*V*V + v*sv + w*sw]
  int64_t sv, sw;
};
struct TileSizes {
  int64_t Cin, Cout, T, V, K;
};

// Graph first: aggregate a chunk of input channels over the joints (K times), then
// every thread adds its outputs' share of the channel mix.
template <typename scalar_t, typename acc_t = at::opmath_type<scalar_t>>
__global__ void graph_first_tile_kernel(const scalar_t* __restrict__ in, const acc_t* __restrict__ m,
                                        ChannelMix mix, const acc_t* __restrict__ a, GraphMap gm,
                                        const acc_t* __restrict__ bias_tab, scalar_t* __restrict__ out,
                                        TileSizes s, int64_t oc_tile, int64_t ic_chunk) {
  extern __shared__ unsigned char smem_raw[];
  acc_t* xs = reinterpret_cast<acc_t*>(smem_raw);  // (ic_chunk, V)
  acc_t* xa = xs + ic_chunk * s.V;                  // (K, ic_chunk, V)
  const int64_t V = s.V, n = blockIdx.x / s.T, t = blockIdx.x % s.T, c0 = blockIdx.y * oc_tile;
  const int64_t n_out = min(oc_tile, s.Cout - c0) * V;
  acc_t acc[kPerThread];
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t o = threadIdx.x + j * blockDim.x;
    acc[j] = (o < n_out && bias_tab) ? bias_tab[(c0 + o / V) * V + o % V] : acc_t(0);
  }
  for (int64_t i0 = 0; i0 < s.Cin; i0 += ic_chunk) {
    const int64_t ic = min(ic_chunk, s.Cin - i0);
    for (int64_t e = threadIdx.x; e < ic * V; e += blockDim.x)
      xs[e] = acc_t(in[((n * s.Cin + i0 + e / V) * s.T + t) * V + e % V]);
    __syncthreads();
    for (int64_t e = threadIdx.x; e < s.K * ic * V; e += blockDim.x) {
      const int64_t k = e / (ic * V), ii = (e / V) % ic, w = e % V;
      xa[(k * ic_chunk + ii) * V + w] = aggregate_joints(xs + ii * V, a + k * V * V, V, gm.sv, gm.sw, w);
    }
    __syncthreads();
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t o = threadIdx.x + j * blockDim.x;
      if (o >= n_out) break;
      const int64_t c = c0 + o / V, w = o % V;
      for (int64_t k = 0; k < s.K; ++k)
        acc[j] += mix_channels(m + k * mix.sk + c * mix.so + i0 * mix.si, mix.si, xa + k * ic_chunk * V + w, V, ic);
    }
    __syncthreads();
  }
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t o = threadIdx.x + j * blockDim.x;
    if (o < n_out) out[((n * s.Cout + c0 + o / V) * s.T + t) * V + o % V] = scalar_t(acc[j]);
  }
}

// Channels first: each thread accumulates its (k, o, v) entries of Z = M x over all input
// channels, then the block aggregates Z over the joints.
template <typename scalar_t, typename acc_t = at::opmath_type<scalar_t>>
__global__ void channels_first_tile_kernel(const scalar_t* __restrict__ in, const acc_t* __restrict__ m,
                                           ChannelMix mix, const acc_t* __restrict__ a, GraphMap gm,
                                           const acc_t* __restrict__ bias_tab, scalar_t* __restrict__ out,
                                           TileSizes s, int64_t oc_tile, int64_t ic_chunk) {
  extern __shared__ unsigned char smem_raw[];
  acc_t* xs = reinterpret_cast<acc_t*>(smem_raw);  // (ic_chunk, V)
  acc_t* zs = xs + ic_chunk * s.V;                  // (K, oc_tile, V)
  const int64_t V = s.V, n = blockIdx.x / s.T, t = blockIdx.x % s.T, c0 = blockIdx.y * oc_tile;
  const int64_t oc = min(oc_tile, s.Cout - c0), n_z = s.K * oc * V;
  acc_t acc[kPerThread];
  for (int j = 0; j < kPerThread; ++j) acc[j] = acc_t(0);
  for (int64_t i0 = 0; i0 < s.Cin; i0 += ic_chunk) {
    const int64_t ic = min(ic_chunk, s.Cin - i0);
    for (int64_t e = threadIdx.x; e < ic * V; e += blockDim.x)
      xs[e] = acc_t(in[((n * s.Cin + i0 + e / V) * s.T + t) * V + e % V]);
    __syncthreads();
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t e = threadIdx.x + j * blockDim.x;
      if (e >= n_z) break;
      const int64_t k = e / (oc * V), c = c0 + (e / V) % oc, v = e % V;
      acc[j] += mix_channels(m + k * mix.sk + c * mix.so + i0 * mix.si, mix.si, xs + v, V, ic);
    }
    __syncthreads();
  }
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t e = threadIdx.x + j * blockDim.x;
    if (e < n_z) zs[((e / (oc * V)) * oc_tile + (e / V) % oc) * V + e % V] = acc[j];
  }
  __syncthreads();
  for (int64_t o = threadIdx.x; o < oc * V; o += blockDim.x) {
    const int64_t cc = o / V, w = o % V;
    acc_t y = bias_tab ? bias_tab[(c0 + cc) * V + w] : acc_t(0);
    for (int64_t k = 0; k < s.K; ++k)
      y += aggregate_joints(zs + (k * oc_tile + cc) * V, a + k * V * V, V, gm.sv, gm.sw, w);
    out[((n * s.Cout + c0 + cc) * s.T + t) * V + w] = scalar_t(y);
  }
}

// Launches the cheaper tile kernel for out (N,Cout,T,V) from in (N,Cin,T,V); `s` holds the
// channel counts of this map (swapped for grad_x).
template <typename scalar_t>
void launch_tile_conv(const scalar_t* in, const at::opmath_type<scalar_t>* m, ChannelMix mix,
                      const at::opmath_type<scalar_t>* a, GraphMap gm, const at::opmath_type<scalar_t>* bias_tab,
                      scalar_t* out, int64_t N, TileSizes s) {
  using acc_t = at::opmath_type<scalar_t>;
  if (N * s.T == 0 || s.Cout == 0 || s.V == 0) return;
  const int64_t V = s.V, slots = int64_t(kThreads) * kPerThread;
  const bool graph_first = s.Cin < s.Cout;
  TORCH_CHECK((graph_first ? V : s.K * V) <= slots, "graph_conv: the CUDA kernels support K*V <= ", slots,
              " (K=", s.K, ", V=", V, ")");
  const int64_t oc_tile = std::max<int64_t>(1, graph_first ? slots / V : slots / (s.K * V));
  // shared memory: the input chunk plus K aggregated rows (graph first) or the Z tile
  const int64_t fixed = graph_first ? 0 : s.K * oc_tile * V;
  const int64_t per_channel = graph_first ? (s.K + 1) * V : V;
  const int64_t fit = (kSharedBytes / int64_t(sizeof(acc_t)) - fixed) / per_channel;
  TORCH_CHECK(fit >= 1, "graph_conv: V=", V, " and K=", s.K, " need more shared memory than the CUDA kernels use");
  const int64_t ic_chunk = std::max<int64_t>(1, std::min<int64_t>({fit, 32, std::max<int64_t>(s.Cin, 1)}));
  const size_t smem = size_t(fixed + per_channel * ic_chunk) * sizeof(acc_t);
  dim3 grid(static_cast<unsigned>(N * s.T), static_cast<unsigned>((s.Cout + oc_tile - 1) / oc_tile));
  auto stream = at::cuda::getCurrentCUDAStream();
  if (graph_first)
    graph_first_tile_kernel<scalar_t><<<grid, kThreads, smem, stream>>>(in, m, mix, a, gm, bias_tab, out, s,
                                                                        oc_tile, ic_chunk);
  else
    channels_first_tile_kernel<scalar_t><<<grid, kThreads, smem, stream>>>(in, m, mix, a, gm, bias_tab, out, s,
                                                                           oc_tile, ic_chunk);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace cpstn
