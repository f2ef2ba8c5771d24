// CPU kernel of cpstn::skeleton_augment and the argument checks shared with CUDA.
// Parallel over (sample, output frame); each task writes one contiguous row of
// V*M joints per channel, reading two source frames of x through its strides.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "skeleton_augment/skeleton_augment.h"
#include "skeleton_augment/skeleton_augment_common.h"

namespace cpstn {

namespace {

void check_per_sample(const at::Tensor& t, const char* name, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "skeleton_augment: ", name, " is on ", t.device(), " but x is on ",
              x.device());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "skeleton_augment: ", name, " must have shape (N,) = (",
              x.size(0), ",) to match x, got ", t.sizes());
}

// valid_frames must lie in [0, T]; on CUDA this reads back two numbers.
void check_valid_frames_range(const at::Tensor& valid_frames, int64_t T) {
  if (valid_frames.numel() == 0) return;
  int64_t lo, hi;
  if (valid_frames.is_cpu()) {
    const auto vf = valid_frames.contiguous();
    const int64_t* p = vf.data_ptr<int64_t>();
    lo = hi = p[0];
    for (int64_t i = 1; i < vf.numel(); ++i) {
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
  } else {
    const auto mm = at::aminmax(valid_frames);
    const auto both = at::stack({std::get<0>(mm), std::get<1>(mm)}).cpu();
    lo = both[0].item<int64_t>();
    hi = both[1].item<int64_t>();
  }
  TORCH_CHECK(lo >= 0 && hi <= T, "skeleton_augment: valid_frames must lie in [0, T] = [0, ", T, "], found ", lo,
              "..", hi);
}

}  // namespace

SkeletonAugmentParams check_skeleton_augment_args(const at::Tensor& x, const at::Tensor& valid_frames,
                                                  const at::Tensor& start, const at::Tensor& step,
                                                  const at::Tensor& R, int64_t T_out) {
  TORCH_CHECK(x.dim() == 5, "skeleton_augment: x must have shape (N,3,T,V,M), got ", x.sizes());
  TORCH_CHECK(x.size(1) == 3, "skeleton_augment: x must have 3 coordinate channels in dim 1, got shape ",
              x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "skeleton_augment: x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(T_out >= 1, "skeleton_augment: T_out must be >= 1, got ", T_out);
  check_per_sample(valid_frames, "valid_frames", x);
  TORCH_CHECK(valid_frames.scalar_type() == at::kLong, "skeleton_augment: valid_frames must be int64, got ",
              valid_frames.scalar_type());
  check_per_sample(start, "start", x);
  TORCH_CHECK(at::isFloatingType(start.scalar_type()), "skeleton_augment: start must be floating point, got ",
              start.scalar_type());
  check_per_sample(step, "step", x);
  TORCH_CHECK(at::isFloatingType(step.scalar_type()), "skeleton_augment: step must be floating point, got ",
              step.scalar_type());
  TORCH_CHECK(R.device() == x.device(), "skeleton_augment: R is on ", R.device(), " but x is on ", x.device());
  TORCH_CHECK(R.dim() == 3 && R.size(0) == x.size(0) && R.size(1) == 3 && R.size(2) == 3,
              "skeleton_augment: R must have shape (N,3,3) = (", x.size(0), ",3,3), got ", R.sizes());
  TORCH_CHECK(at::isFloatingType(R.scalar_type()), "skeleton_augment: R must be floating point, got ",
              R.scalar_type());
  check_valid_frames_range(valid_frames, x.size(2));
  const auto dt = x.scalar_type();
  return {start.to(dt).contiguous(), step.to(dt).contiguous(), R.to(dt).contiguous()};
}

// Pointers and strides of one call; out is (N,3,T_out,V,M) contiguous.
template <typename scalar_t>
struct AugmentArgs {
  const scalar_t* x;
  int64_t sN, sC, sT, sV, sM;
  const int64_t* valid_frames;
  const scalar_t *start, *step, *R;
  scalar_t* out;
  int64_t T_out, V, M;
  bool reflect;
};

// Output frames [begin, end) of the flattened (sample, output frame) range.
// Always inlined, so each SIMD clone below gets its own copy compiled for its ISA.
template <typename scalar_t>
C10_ALWAYS_INLINE void augment_frames(const AugmentArgs<scalar_t>& a, int64_t begin, int64_t end) {
  const int64_t VM = a.V * a.M, out_cstride = a.T_out * VM;
  // joints and bodies form one strided row when the (V,M) block is evenly spaced in memory
  const bool flat_row = a.M == 1 || a.sV == a.M * a.sM;
  const int64_t row_stride = a.M == 1 ? a.sV : a.sM;
  for (int64_t nj = begin; nj < end; ++nj) {
    const int64_t n = nj / a.T_out, j = nj % a.T_out;
    scalar_t* o = a.out + n * 3 * out_cstride + j * VM;
    const int64_t valid = a.valid_frames[n];
    if (valid == 0) {
      for (int c = 0; c < 3; ++c) std::fill_n(o + c * out_cstride, VM, scalar_t(0));
      continue;
    }
    const auto s = sample_frame<scalar_t>(a.start[n], a.step[n], j, valid, a.reflect);
    const scalar_t* lo = a.x + n * a.sN + s.i0 * a.sT;
    const scalar_t* hi = a.x + n * a.sN + s.i1 * a.sT;
    // a local copy: the compiler then knows stores to out cannot change R and
    // keeps its entries in registers across the row
    scalar_t r[9];
    std::copy(a.R + 9 * n, a.R + 9 * n + 9, r);
    if (flat_row && row_stride == 1) {
      // contiguous x: unit-stride rows; x and out never overlap, so vectorize without alias checks
#pragma omp simd
      for (int64_t k = 0; k < VM; ++k) augment_point(lo + k, hi + k, a.sC, s.frac, r, o + k, out_cstride);
    } else if (flat_row) {
      for (int64_t k = 0; k < VM; ++k)
        augment_point(lo + k * row_stride, hi + k * row_stride, a.sC, s.frac, r, o + k, out_cstride);
    } else {
      for (int64_t v = 0; v < a.V; ++v)
        for (int64_t m = 0; m < a.M; ++m) {
          const int64_t off = v * a.sV + m * a.sM;
          augment_point(lo + off, hi + off, a.sC, s.frac, r, o + v * a.M + m, out_cstride);
        }
    }
  }
}

// The frame loop is compiled twice where the compiler can: for AVX2 (twice the
// SIMD width; no FMA, so results stay those of separate multiply and add) and
// for the baseline ISA; the dynamic loader picks the one the CPU runs.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define CPSTN_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CPSTN_SIMD_CLONES
#endif

CPSTN_SIMD_CLONES void augment_frames_simd(const AugmentArgs<float>& a, int64_t begin, int64_t end) {
  augment_frames(a, begin, end);
}

CPSTN_SIMD_CLONES void augment_frames_simd(const AugmentArgs<double>& a, int64_t begin, int64_t end) {
  augment_frames(a, begin, end);
}

at::Tensor skeleton_augment_cpu(const at::Tensor& x, const at::Tensor& valid_frames, const at::Tensor& start,
                                const at::Tensor& step, const at::Tensor& R, int64_t T_out, bool reflect) {
  const auto params = check_skeleton_augment_args(x, valid_frames, start, step, R, T_out);
  auto out = at::empty({x.size(0), 3, T_out, x.size(3), x.size(4)},
                       x.options().memory_format(at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const auto vf = valid_frames.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "skeleton_augment_cpu", [&] {
    const AugmentArgs<scalar_t> args{x.data_ptr<scalar_t>(), x.stride(0), x.stride(1), x.stride(2), x.stride(3),
                                     x.stride(4), vf.data_ptr<int64_t>(), params.start.data_ptr<scalar_t>(),
                                     params.step.data_ptr<scalar_t>(), params.R.data_ptr<scalar_t>(),
                                     out.data_ptr<scalar_t>(), T_out, x.size(3), x.size(4), reflect};
    // tasks of at least ~16k output values, so threads are not woken for tiny batches
    const int64_t grain = std::max<int64_t>(1, 16384 / (3 * x.size(3) * x.size(4)));
    at::parallel_for(0, x.size(0) * T_out, grain,
                     [&](int64_t begin, int64_t end) { augment_frames_simd(args, begin, end); });
  });
  return out;
}

TORCH_LIBRARY_IMPL(cpstn, CPU, m) { m.impl("skeleton_augment", &skeleton_augment_cpu); }

}  // namespace cpstn
