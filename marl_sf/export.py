"""Export the actors of a trained experiment as standalone files: ``python -m marl_sf.export --experiment=<name>``.

Each policy's ``StandaloneActor`` (inputs: the observation keys, ``agent_index`` with ``--add_agent_id``,
``rnn_states`` for a recurrent model; outputs: greedy ``actions``, ``action_logits``, ``new_rnn_states``; see
``marl_sf.standalone_actor``) is captured with ``torch.export`` and written as a file that takes the observations
as the env gives them (``--obs_subtract_mean``, ``--obs_scale`` and ``--normalize_input`` are in the graph):

* ``--format=onnx``: ``policy_<id>.onnx`` (ONNX opset ``--opset``, default 18), run with onnxruntime or any ONNX
  runtime; needs the ``onnx`` extra (``pip install 'marl-sf[onnx]'``);
* ``--format=torch_export``: ``policy_<id>.pt2``, a ``torch.export`` program that runs with torch alone
  (``torch.export.load(path).module()(*inputs)``), without marl_sf (TorchScript's successor; torch deprecates
  ``torch.jit``).

The batch axis is dynamic. Next to each file, ``policy_<id>.json`` lists the agents it plays and every input and
output with its shape and dtype. Before a file is written, the exported program is run on sampled inputs of two
batch sizes and compared with the torch actor (discrete actions equal; Box actions, logits and states within 1e-5);
files are written atomically, so a failed export leaves no file behind (docs/using_policies.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from marl_sf.policy import load_policy
from marl_sf.standalone_actor import StandaloneActor
from marl_sf.utils.extras import MissingExtraError, require
from marl_sf.utils.io import atomic_write

FORMATS = {"onnx": ".onnx", "torch_export": ".pt2"}
_EXAMPLE_BATCH = 3  # the traced batch: neither 0 nor 1, which torch.export would specialize
_CHECK_BATCHES = (1, 5)
_TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """A policy's actor cannot be exported; the message names the module that stopped the export and the way out."""


def export_policies(
    experiment: str | Path, fmt: str = "onnx", out_dir: str | Path | None = None, kind: str = "latest", opset: int = 18
) -> list[Path]:
    """Export every policy of ``experiment`` (``train_dir/<experiment>``) to ``out_dir`` (default
    ``<experiment>/export``); returns the written model files (a ``.json`` description beside each).

    Raises:
        ValueError: an unknown ``fmt``.
        MissingExtraError: ``fmt="onnx"`` without the ``onnx`` extra.
        ExportError: a model that cannot be exported, an exported program that computes something else than the
            torch actor, or an ONNX ``opset`` the exporter does not write; nothing is written, for any policy (all
            are exported and checked before the first file is written).
        OSError: ``out_dir`` cannot be written.
        FileNotFoundError: not an experiment folder, or no checkpoint.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")
    if fmt == "onnx":
        for module in ("onnx", "onnxscript", "onnxruntime"):
            require(module, "onnx", "export --format=onnx")
    policy = load_policy(experiment, device="cpu", deterministic=True, kind=kind)
    out = Path(out_dir) if out_dir is not None else Path(experiment) / "export"
    files = []  # every policy exported and checked before anything is written
    for spec, actor in zip(policy.specs, policy.actors, strict=True):
        actor.eval()
        data = _onnx_bytes(actor, opset) if fmt == "onnx" else _torch_export_bytes(actor)
        agents = [policy.agent_names[i] for i in spec.agent_indices]
        files.append((out / f"policy_{spec.policy_id}{FORMATS[fmt]}", data, _describe(actor, fmt, opset, agents)))
    written = []
    for path, data, description in files:
        atomic_write(path, lambda f, data=data: f.write(data))
        atomic_write(path.with_suffix(".json"), lambda f, d=description: json.dump(d, f, indent=2), mode="w")
        written.append(path)
    return written


def _dynamic_shapes(actor: StandaloneActor) -> tuple:
    batch = torch.export.Dim("batch")
    return (tuple({0: batch} for _ in actor.input_names),)  # forward(*inputs): one entry, a tuple of inputs


def _capture(actor: StandaloneActor, export_fn):
    """``export_fn(actor, example_inputs)``, with a failure turned into an ``ExportError`` naming the module."""
    example = actor.example_inputs(_EXAMPLE_BATCH, torch.Generator().manual_seed(0))
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the exporters log and print their progress and, on failure, whole graphs
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            warnings.simplefilter("ignore")  # deprecation notes of torch's own internals
            return export_fn(actor, example)
    except Exception as e:  # the exporters raise many types; each becomes one error naming the module
        raise ExportError(_failure_message(actor, e)) from e
    finally:
        logging.disable(previous)


def _onnx_bytes(actor: StandaloneActor, opset: int) -> bytes:
    def export(module, example):
        return torch.onnx.export(module, example, None, dynamo=True, input_names=actor.input_names,
                                 output_names=actor.output_names, opset_version=opset, external_data=False,
                                 dynamic_shapes=_dynamic_shapes(actor), verbose=False)  # fmt: skip

    program = _capture(actor, export)
    got = {o.domain: o.version for o in program.model_proto.opset_import}.get("")
    if got != opset:  # torch converts to another opset only where it can, and falls back silently
        raise ExportError(f"the exporter wrote ONNX opset {got}, not the requested --opset={opset} (it converts "
                          f"only between opsets it supports); nothing was written. Use --opset={got}")  # fmt: skip
    data = program.model_proto.SerializeToString()
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])

    def run(*inputs):
        return session.run(None, {name: t.numpy() for name, t in zip(actor.input_names, inputs, strict=True)})

    _check_same_outputs(actor, run)
    return data


def _torch_export_bytes(actor: StandaloneActor) -> bytes:
    def export(module, example):
        return torch.export.export(module, example, dynamic_shapes=_dynamic_shapes(actor))

    program = _capture(actor, export)
    exported = program.module()

    def run(*inputs):
        with torch.no_grad():
            return [t.numpy() for t in exported(*inputs)]

    _check_same_outputs(actor, run)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _check_same_outputs(actor: StandaloneActor, run) -> None:
    """Compare ``run(*inputs)`` (numpy outputs) with the torch actor on sampled inputs.

    Raises:
        ExportError: an output differs (actions not equal, floats beyond 1e-5).
    """
    generator = torch.Generator().manual_seed(1)
    for batch in _CHECK_BATCHES:
        inputs = actor.example_inputs(batch, generator)
        with torch.no_grad():
            expected = [t.numpy() for t in actor(*inputs)]
        for name, want, got in zip(actor.output_names, expected, run(*inputs), strict=True):
            exact = not np.issubdtype(want.dtype, np.floating)  # discrete actions: identical
            same = np.array_equal(want, got) if exact else np.allclose(want, got, atol=_TOLERANCE, rtol=0)
            if not same:
                raise ExportError(
                    f"the exported actor's {name!r} differs from the torch actor's on a batch of {batch} (max "
                    f"difference {np.abs(want - got).max():.3g}); nothing was written. Use the policy in Python "
                    "with marl_sf.load_policy (docs/using_policies.md)"
                )


def _failure_message(actor: StandaloneActor, error: Exception) -> str:
    """Which of the actor's modules the failure happened in (the innermost one on the traceback), the exporter's
    own summary, and the way out."""
    names = {id(m): name or "model" for name, m in actor.model.named_modules()}
    culprit = None
    for exc in (error, error.__cause__, error.__context__):
        if exc is None:
            continue
        for frame, line in traceback.walk_tb(exc.__traceback__):
            owner = frame.f_locals.get("self")
            if id(owner) in names and isinstance(owner, nn.Module):
                culprit = (names[id(owner)], type(owner).__name__, frame.f_code.co_filename, line)
    root = error.__cause__ or error
    summary = f"{type(root).__name__}: {str(root).strip().splitlines()[0] if str(root).strip() else ''}"
    where = f"module {culprit[0]!r} ({culprit[1]}, {culprit[2]}:{culprit[3]})" if culprit else "the model"
    return (
        f"{where} cannot be exported: {summary}. Nothing was written. The way out: replace Python control flow on "
        "tensor values (`if` on a tensor, `.item()`, loops over its values) by tensor operations such as "
        "torch.where, and operations the exporter lacks by supported ones; or run the policy in Python with "
        "marl_sf.load_policy (docs/using_policies.md)"
    )


def _describe(actor: StandaloneActor, fmt: str, opset: int, agents: list[str]) -> dict:
    """The inputs and outputs of an exported actor, for its ``.json`` description."""
    inputs = actor.example_inputs(1, torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = actor(*inputs)

    def io_entries(names, tensors):
        return [{"name": n, "shape": ["batch", *t.shape[1:]], "dtype": str(t.dtype).removeprefix("torch.")}
                for n, t in zip(names, tensors, strict=True)]  # fmt: skip

    return {
        "format": fmt,
        **({"opset": opset} if fmt == "onnx" else {}),
        "agents": agents,
        "action_space": str(actor.action_space),
        "inputs": io_entries(actor.input_names, inputs),
        "outputs": io_entries(actor.output_names, outputs),
    }


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (1 with a one-line message for a missing extra, a failed export or
    an unwritable folder). A registered custom model needs its registration first: call ``export_policies`` from a
    script that registers it, as the training script did."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", required=True, help="the experiment's name (a folder of --train_dir)")
    p.add_argument("--train_dir", default="train_dir")
    p.add_argument("--format", default="onnx", choices=sorted(FORMATS))
    p.add_argument("--load_checkpoint_kind", default="latest", choices=["latest", "best"])
    p.add_argument("--out_dir", default=None, help="default: <train_dir>/<experiment>/export")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version")
    args = p.parse_args(argv)
    try:
        paths = export_policies(Path(args.train_dir) / args.experiment, args.format, args.out_dir,
                                args.load_checkpoint_kind, args.opset)  # fmt: skip
    except (MissingExtraError, ExportError, OSError) as e:
        print(f"export: {e}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path} (inputs and outputs: {path.with_suffix('.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
