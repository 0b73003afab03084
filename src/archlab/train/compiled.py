"""``train.compile``: the whole training step compiled, and what compiling cost.

Three parts of a step are compiled. ``torch.compile`` of the model compiles the forward
and, through AOTAutograd, its backward. The optimiser's ``step`` is compiled on its own,
as PyTorch's compiled-optimiser recipe does, so the update of every parameter becomes a
few fused kernels instead of a loop of small ones.

A float learning rate is a constant to the compiler: a schedule that moves it every step
(onecycle, cosine) would force a recompilation per step until dynamo's recompilation
limit, then fall back to eager. Measured on Model 3's CPU step, that cost 81 s of
compilation for nothing. So each group's rate becomes a 0-d tensor that the schedule
fills in place (torch's schedulers update a tensor rate with ``fill_``), and one graph
serves the whole run.

Compilation happens while training, on the first steps and on a new batch shape (the
last, shorter batch). :func:`compile_seconds` reads dynamo's own timers, which count
forward, backward and optimiser compilations; the engine reports their sum per epoch.
"""

from __future__ import annotations

import torch
from torch import nn

# torch.compile's backend. Tests set "aot_eager": the same dynamo graphs, guards and
# AOTAutograd backward without inductor's C++ code generation (a minute per graph on CI).
BACKEND = "inductor"


def compile_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model compiled: its forward, and its backward through AOTAutograd.

    On a CPU, random numbers (dropout masks) come from ATen's generator, not from
    inductor's in-kernel one, which its generated C++ draws element by element: Model 3's
    compiled step took 152 ms that way against eager's 163, and 136 ms with ATen's
    (``benchmarks/bench_cpu_compile.py``). On CUDA, inductor's own generator is the fast one.
    """
    options = {"fallback_random": True} if device.type == "cpu" and BACKEND == "inductor" else None
    return torch.compile(model, backend=BACKEND, options=options)


def set_lr_tensors(optimizer: torch.optim.Optimizer, tensors: bool) -> None:
    """Make every group's learning rate a 0-d tensor (``tensors``) or a plain float.

    Loading an optimiser state replaces the groups' values with the saved ones, so a
    resumed run calls this again after loading.
    """
    for group in optimizer.param_groups:
        lr = group["lr"]
        if tensors and not isinstance(lr, torch.Tensor):
            group["lr"] = torch.tensor(float(lr))
        elif not tensors and isinstance(lr, torch.Tensor):
            group["lr"] = lr.item()


def compile_optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """Compile ``optimizer.step`` in place, after any scheduler has wrapped it.

    The compiled step is set on the instance, so every caller (``GradScaler.step``, the
    schedulers' step tracking) goes through it.
    """
    set_lr_tensors(optimizer, True)
    optimizer.step = torch.compile(optimizer.step, backend=BACKEND)


def compile_seconds() -> float:
    """Seconds this process has spent compiling so far: dynamo's forward and backward timers.

    ``torch._dynamo.utils.calculate_time_spent`` is not a public API; if a torch version
    lacks it, compilation is reported as 0 rather than stopping a run.
    """
    try:
        from torch._dynamo.utils import calculate_time_spent

        return float(calculate_time_spent().get("total_wall_time", 0.0))
    except (ImportError, AttributeError, TypeError):
        return 0.0
