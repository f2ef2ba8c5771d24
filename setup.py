"""Builds cpstn_min._C: C++ kernels always, CUDA kernels when a CUDA torch + nvcc are present.

Environment switches:
  FORCE_CUDA=1      build the .cu kernels even if no GPU/CUDA torch is detected (CI compile check)
  CPSTN_NO_CUDA=1   CPU-only build even with a CUDA torch
  DEBUG=1           -O0 -g instead of -O3
  CPSTN_CUDA_INCLUDE / CPSTN_CUDA_LIB   extra include / library folders (e.g. <site-packages>/nvidia/cu13)
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def _flag(name):
    return os.environ.get(name, "0") not in ("", "0", "false", "False")


def extension():
    debug = _flag("DEBUG")
    want_cuda = _flag("FORCE_CUDA") or (torch.version.cuda is not None and CUDA_HOME is not None)
    use_cuda = want_cuda and not _flag("CPSTN_NO_CUDA")

    # relative paths: setuptools rejects absolute source paths in an editable build
    sources = sorted(glob.glob("csrc/**/*.cpp", recursive=True))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # no -std flag: torch.utils.cpp_extension picks the standard its headers need (C++17 or C++20)
    cxx = opt + ["-fopenmp", "-DNDEBUG"]
    if debug:
        cxx.remove("-DNDEBUG")
    extra = {"cxx": cxx}
    include_dirs = [os.path.join(HERE, "csrc")]
    library_dirs = []
    if os.environ.get("CPSTN_CUDA_INCLUDE"):
        include_dirs.append(os.environ["CPSTN_CUDA_INCLUDE"])
    if os.environ.get("CPSTN_CUDA_LIB"):
        library_dirs.append(os.environ["CPSTN_CUDA_LIB"])

    if use_cuda:
        sources += sorted(glob.glob("csrc/**/*.cu", recursive=True))
        extra["cxx"].append("-DCPSTN_WITH_CUDA")
        extra["nvcc"] = opt + ["-DCPSTN_WITH_CUDA", "--expt-relaxed-constexpr"]
        ext_cls = CUDAExtension
    else:
        ext_cls = CppExtension

    return ext_cls(
        "cpstn_min._C",
        sources,
        include_dirs=include_dirs,
        library_dirs=library_dirs,
        extra_compile_args=extra,
        extra_link_args=["-fopenmp"],
        py_limited_api=False,
    )


setup(
    name="cpstn",
    version="0.1.0",
    description="CP-STN: contrastive + pretext skeleton action representation learning with fused kernels",
    packages=find_packages(include=["cpstn_min", "cpstn_min.*"]),
    py_modules=["train", "eval"],
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    install_requires=["torch", "numpy", "tqdm", "matplotlib"],
    # python -m cpstn_min.export --format onnx (and its test); never needed for training or the demo
    extras_require={"export": ["onnx", "onnxruntime", "onnxscript"]},
    python_requires=">=3.10",
)
