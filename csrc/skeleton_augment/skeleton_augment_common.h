// Per-element math of cpstn::skeleton_augment, shared by the CPU loop and the
// CUDA kernel so that CPU tests exercise exactly what the GPU runs.
//
//   p  = clamp(start + j*step, 0, valid-1),  i0 = floor(p),  i1 = min(i0+1, valid-1)
//   out[:, j, v, m] = R @ (x[:, i0, v, m] + frac(p) * (x[:, i1, v, m] - x[:, i0, v, m]))
// With reflect, p = start + j*step is first folded into [0, valid-1] by ping-pong
// playback (period 2*(valid-1)) instead of being clamped: a view longer than the clip
// plays it back and forth at the same speed instead of freezing on the last frame.
#pragma once

#include <c10/macros/Macros.h>
#include <cmath>
#include <cstdint>

namespace cpstn {

// Where output frame j reads from: two source frames and the weight of the second.
template <typename scalar_t>
struct FrameSample {
  int64_t i0;
  int64_t i1;
  scalar_t frac;
};

// j * step rounded on its own, as the reference computes it: nvcc would fuse it
// with the add, which moves sample positions by up to half an ulp.
C10_HOST_DEVICE inline float mul_unfused(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

C10_HOST_DEVICE inline double mul_unfused(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// p folded into [0, last] with period 2*last, as q = p - period*floor(p/period), each
// operation rounded on its own like the reference; 0 when last is 0.
template <typename scalar_t>
C10_HOST_DEVICE inline scalar_t reflect_position(scalar_t p, scalar_t last) {
  if (!(last > scalar_t(0))) return scalar_t(0);
  const scalar_t period = scalar_t(2) * last;
#ifdef __CUDA_ARCH__
  const scalar_t turns = floor(p / period);
#else
  const scalar_t turns = std::floor(p / period);
#endif
  const scalar_t q = p - mul_unfused(period, turns);
  return q > last ? period - q : q;
}

// Requires valid >= 1. The position is computed in scalar_t, term by term, as
// the reference does, so both agree on which frames are read.
template <typename scalar_t>
C10_HOST_DEVICE inline FrameSample<scalar_t> sample_frame(scalar_t start, scalar_t step, int64_t j,
                                                          int64_t valid, bool reflect) {
  const scalar_t last = static_cast<scalar_t>(valid - 1);
  scalar_t p = start + mul_unfused(static_cast<scalar_t>(j), step);
  if (reflect) p = reflect_position(p, last);
  // `!(p > 0)` also catches NaN, so a bad start/step can never index out of bounds
  p = !(p > scalar_t(0)) ? scalar_t(0) : p;
  p = p > last ? last : p;
  FrameSample<scalar_t> s;
  s.i0 = static_cast<int64_t>(p);  // p >= 0, so truncation is floor
  s.i1 = s.i0 + 1 < valid ? s.i0 + 1 : valid - 1;
  s.frac = p - static_cast<scalar_t>(s.i0);
  return s;
}

// One joint of one body: lerp the xyz vector between two frames, then apply the
// row-major 3x3 matrix R. `lo`/`hi` point at channel 0 of the two source frames;
// channels are `x_cstride` apart in x and `out_cstride` apart in out.
template <typename scalar_t>
C10_HOST_DEVICE inline void augment_point(const scalar_t* lo, const scalar_t* hi, int64_t x_cstride,
                                          scalar_t frac, const scalar_t* R, scalar_t* out,
                                          int64_t out_cstride) {
  scalar_t c[3];
  for (int k = 0; k < 3; ++k) {
    const scalar_t a = lo[k * x_cstride];
    c[k] = a + frac * (hi[k * x_cstride] - a);
  }
  for (int i = 0; i < 3; ++i) {
    out[i * out_cstride] = R[3 * i] * c[0] + R[3 * i + 1] * c[1] + R[3 * i + 2] * c[2];
  }
}

}  // namespace cpstn
