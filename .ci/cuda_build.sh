#!/usr/bin/env bash
# Proves the CUDA kernels compile and link: builds a non-editable copy of the tree
# against the CUDA 13.0 torch wheel, then checks every op has a CUDA kernel registered.
# No GPU is needed (nothing runs on one). The checkout's own CPU build is never touched.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CPSTN_CUDA_VENV:-$ROOT/.cache/cuda-venv}"
WORK="$(mktemp -d)"
mkdir "$WORK/src"
trap 'rm -rf "$WORK"' EXIT

# nvcc on the PATH may be a wrapper script naming the real toolkit; torch would guess wrong from it
if [ -z "${CUDA_HOME:-}" ]; then
  NVCC="$(command -v nvcc)"
  REAL="$(grep -o '/[^ "]*/bin/nvcc' "$NVCC" | head -n 1 || true)"
  CUDA_HOME="$(dirname "$(dirname "$(readlink -f "${REAL:-$NVCC}")")")"
fi
export CUDA_HOME
echo "CUDA_HOME=$CUDA_HOME"

test -x "$VENV/bin/python" || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q torch==2.14.1 numpy ninja setuptools wheel
SITE="$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"

git -C "$ROOT" ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && xargs -0 cp --parents -t "$WORK/src")
FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="9.0" \
  CPSTN_CUDA_INCLUDE="$SITE/nvidia/cu13/include" CPSTN_CUDA_LIB="$SITE/nvidia/cu13/lib" \
  MAX_JOBS="${MAX_JOBS:-2}" "$VENV/bin/python" -m pip install -q --no-build-isolation "$WORK/src"

cd "$WORK"  # import the installed package, not the source copy
"$VENV/bin/python" - <<'PY'
import torch
import cpstn_min._C  # noqa: F401
ops = ["graph_conv", "graph_conv_backward", "skeleton_augment"]
missing = [op for op in ops for key in ("CPU", "CUDA")
           if not torch._C._dispatch_has_kernel_for_dispatch_key(f"cpstn::{op}", key)]
assert not missing, f"ops without a kernel: {missing}"
print("CUDA build OK: CPU and CUDA kernels registered for", ", ".join(ops), "with torch", torch.__version__)
PY
