"""cpstn: CP-STN skeleton action representation learning with fused C++/CUDA kernels."""
__version__ = "0.1.0"
