"""Deployment-side measurement and use of models.

``bench`` (throughput, latency, peak memory; ``memory`` holds the CPU probe), ``export``
(ONNX / TorchScript with a JSON sidecar, verified against PyTorch), ``predict`` (classify
files with a run or an exported model) and ``cli`` (the ``archlab bench``, ``export`` and
``predict`` subcommands). Modules are imported on use, so ``import archlab`` stays light.
"""
