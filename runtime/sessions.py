"""The one place that creates ONNX Runtime sessions and chooses execution providers.

CUDA first when onnxruntime offers the CUDA provider, CPU otherwise; a CUDA session that fails
to build is retried on CPU. The providers really in use are logged and reported with every answer.
On CUDA, inputs and outputs go through IO binding (one copy in, one copy out per call).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runtime.errors import BundleError

logger = logging.getLogger(__name__)

# ONNX Runtime's own exception types (not subclasses of RuntimeError).
ORT_ERRORS = (ort.capi.onnxruntime_pybind11_state.Fail, ort.capi.onnxruntime_pybind11_state.InvalidGraph,
              ort.capi.onnxruntime_pybind11_state.InvalidProtobuf, ort.capi.onnxruntime_pybind11_state.NoSuchFile,
              ort.capi.onnxruntime_pybind11_state.RuntimeException)
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# Full fp32 on CUDA: the counterfactual decoder subtracts two large outputs (|G| reaches 1e9 while
# the change kept is a few 8-bit levels), and TF32's 10-bit mantissa would move that difference.
# The graphs are small, so TF32 would save little time anyway.
PROVIDER_OPTIONS = {CUDA: {"use_tf32": "0"}}
# After a run, ONNX Runtime's worker threads spin for a while waiting for more work. An analysis
# calls four sessions one after another, each with its own pool, so on a small CPU the threads of
# the session that just finished spin on the cores the next one needs. Without spinning, one
# analysis is faster (bench/results/latency.json: onnxruntime against onnxruntime_spinning).
SPINNING_ENTRY = "session.intra_op.allow_spinning"


def preferred_providers(available: list[str] | None = None, device: str = "auto") -> list[str]:
    """Providers to ask for: ["CUDA", "CPU"] when CUDA is offered (and not refused), else ["CPU"]."""
    available = ort.get_available_providers() if available is None else available
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        logger.warning("CUDA requested but onnxruntime offers only %s; using CPU", available)
    return [CPU]


def with_options(providers: list[str]) -> list:
    """Providers as ONNX Runtime takes them: (name, options) where we set options, else the name."""
    return [(name, PROVIDER_OPTIONS[name]) if name in PROVIDER_OPTIONS else name for name in providers]


def create_session(path: Path, providers: list[str], threads: int = 0,
                   spinning: bool = False) -> ort.InferenceSession:
    """An InferenceSession for `path`, retried on CPU alone if a CUDA session cannot be built.
    `threads`: intra-op threads (0: ONNX Runtime's choice); `spinning`: let idle workers spin."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry(SPINNING_ENTRY, "1" if spinning else "0")
    if threads:
        options.intra_op_num_threads = threads
    if CUDA in providers:
        # ONNX Runtime prints a multi-line error when CUDA libraries are missing; we log one line.
        ort.set_default_logger_severity(4)
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=with_options(providers))
    except (RuntimeError, *ORT_ERRORS) as error:
        if providers == [CPU]:
            raise BundleError(f"{path}: ONNX Runtime cannot load it ({error})") from error
        logger.warning("%s: %s session failed (%s); retrying on CPU", path.name, providers[0], error)
        return create_session(path, [CPU], threads, spinning)
    finally:
        ort.set_default_logger_severity(2)  # ONNX Runtime's default: warnings


@dataclass
class Graph:
    """A session and how to call it; `run` returns a dict of numpy outputs."""

    session: ort.InferenceSession

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
        if self.provider != CUDA:
            return dict(zip(self.output_names, self.session.run(None, feeds)))
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0))
        for name in self.output_names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu()))


def create_graphs(paths: dict[str, Path], device: str = "auto", threads: int = 0,
                  available: list[str] | None = None, spinning: bool = False) -> dict[str, Graph]:
    """One session per graph, built once (`threads`, `spinning`: see create_session); logs the
    providers in use. If CUDA is offered but the first session comes up without it (libraries
    missing), the rest go straight to CPU."""
    providers = preferred_providers(available, device)
    graphs = {}
    for name, path in paths.items():
        graphs[name] = Graph(create_session(path, providers, threads, spinning))
        if providers[0] == CUDA and graphs[name].provider != CUDA:
            logger.warning("CUDA provider offered but not usable here; running on CPU")
            providers = [CPU]
    used = sorted({g.provider for g in graphs.values()})
    logger.info("ONNX Runtime %s, providers in use: %s", ort.__version__, ", ".join(used))
    return graphs
