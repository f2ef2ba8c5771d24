"""Which precision a run trains in: TrainConfig.amp and amp_dtype, resolved for the device.

    float32                 amp off (the default)
    bfloat16 autocast       amp on a CPU (amp_dtype auto or bfloat16), or on a GPU that has
                            bfloat16 (auto or bfloat16); no loss scaling (bfloat16 has float32's range)
    float16 autocast        amp_dtype float16 on a GPU, or auto on a GPU without bfloat16;
                            a GradScaler scales the loss (float16 gradients underflow)

Under autocast the matrix products, convolutions and the graph_conv kernel run in the
autocast dtype with float32 weights and float32 weight gradients; batch norm statistics,
the losses, the MoCo queue and the EMA of the key encoder stay float32 (moco.py, model.py).
amp stays off by default, on CPUs and GPUs alike: what it gains depends on the hardware (on a
CPU without AVX-512-BF16 or AMX, bfloat16 is converted in software; no gain was measured there)
and a run's numbers should not depend on the machine it ran on; the run header says when --amp
would pay (README "Precision").
"""
from dataclasses import dataclass
from typing import Optional

import torch

from .. import ops
from ..config_checks import AMP_DTYPES
from ..errors import UsageError


@dataclass(frozen=True)
class Precision:
    dtype: Optional[torch.dtype]   # the autocast dtype, None for float32
    device_type: str

    @property
    def autocast(self) -> bool:
        return self.dtype is not None

    @property
    def scales_loss(self) -> bool:
        return self.dtype == torch.float16

    def context(self):
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.autocast)

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device_type, enabled=self.scales_loss)

    def describe(self) -> str:
        """One line for the run header."""
        if not self.autocast:
            hint = fast_bf16(self.device_type)
            return f"float32 ({hint}: --amp would run it in bfloat16, README \"Precision\")" if hint else "float32"
        name = str(self.dtype).replace("torch.", "")
        scaler = "GradScaler on" if self.scales_loss else "no loss scaling"
        gc = ""
        if self.device_type == "cpu" and ops.CPU_BF16_COMPOSED:
            gc = "; graph_conv in the composed order on oneDNN's bfloat16 matmuls, faster than the kernel here"
        return (f"{name} autocast on {self.device_type} (float32 weights and gradients, batch-norm "
                f"statistics, losses, queue and EMA{gc}), {scaler}")


def fast_bf16(device_type: str) -> str:
    """What makes bfloat16 fast on this device ("" if nothing): AMX or AVX-512-BF16 on a CPU
    (the instructions oneDNN's bfloat16 convolutions and matrix products use), bfloat16 on a GPU."""
    if device_type == "cuda":
        return "this GPU has bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else ""
    unit = ops.cpu_bf16_unit()
    return f"this CPU has {unit}" if unit else ""


def resolve(amp: bool, amp_dtype: str, device: torch.device) -> Precision:
    """TrainConfig.amp / amp_dtype on `device` -> Precision, or a UsageError naming --amp-dtype."""
    if amp_dtype not in AMP_DTYPES:
        raise UsageError(f"--amp-dtype (train.amp_dtype) must be one of {', '.join(AMP_DTYPES)}, got {amp_dtype!r}")
    if not amp:
        return Precision(None, device.type)
    if device.type == "cpu":
        if amp_dtype == "float16":
            raise UsageError("--amp-dtype (train.amp_dtype) float16 is for CUDA devices; on the CPU use "
                             "bfloat16 (or auto)")
        return Precision(torch.bfloat16, "cpu")
    if amp_dtype == "auto":
        amp_dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return Precision(getattr(torch, amp_dtype), device.type)
