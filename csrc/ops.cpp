// Schemas of every cpstn op, and nothing else: kernels register themselves
// in their own files with TORCH_LIBRARY_IMPL(cpstn, CPU|CUDA, m).
#include <Python.h>
#include <torch/library.h>

// An empty Python module: `import cpstn_min._C` only needs to load the shared
// library so the static registrations below run.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module);
}

TORCH_LIBRARY(cpstn, m) {
  // y[n,c,t,w] = sum_k sum_v (sum_i weight[k,c,i] x[n,i,t,v] + bias[k,c]) * A[k,v,w]
  // x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V) -> (N,Cout,T,V)
  m.def("graph_conv(Tensor x, Tensor weight, Tensor? bias, Tensor A) -> Tensor");
  // Returns (grad_x, grad_weight, grad_bias, grad_A); an entry whose output_mask is
  // false (or grad_bias when bias is None) is an empty tensor of shape (0,).
  m.def(
      "graph_conv_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor? bias, "
      "Tensor A, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
  // out[n,:,j,v,m] = R[n] @ lerp(x[n,:,i0,v,m], x[n,:,i1,v,m], frac(p)),
  // p = clamp(start[n] + j*step[n], 0, valid_frames[n]-1), i0 = floor(p),
  // i1 = min(i0+1, valid_frames[n]-1); valid_frames 0 gives zeros. reflect: instead of
  // the clamp, p is folded into [0, valid_frames[n]-1] by ping-pong playback.
  // x (N,3,T,V,M), valid_frames (N,) int64, start/step (N,), R (N,3,3) -> (N,3,T_out,V,M)
  m.def(
      "skeleton_augment(Tensor x, Tensor valid_frames, Tensor start, Tensor step, "
      "Tensor R, int T_out, bool reflect=False) -> Tensor");
}
