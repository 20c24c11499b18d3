"""Evaluation: ``enjoy(cfg)`` and ``python -m marl_sf.enjoy``; writes the per-agent report."""

from __future__ import annotations

import logging
import sys

from marl_sf.algo.policy_mapping import agent_policies
from marl_sf.algo.runners import make_local_envs
from marl_sf.cfg.arguments import check_folder_name, experiment_dir
from marl_sf.checkpoint import checkpoint_dir, find_checkpoint, load_checkpoint
from marl_sf.envs.spec import EnvSpec
from marl_sf.evaluation import evaluate
from marl_sf.experiment import build_run, seed_everything
from marl_sf.report import build_report, write_report
from marl_sf.report_html import write_html_report
from marl_sf.train import parse_args
from marl_sf.utils.extras import MissingExtraError, require
from marl_sf.utils.io import check_writable
from marl_sf.video import VideoRecorder

log = logging.getLogger("marl_sf")


def load_policies(cfg, env_spec: EnvSpec | None = None, seed: int | None = None) -> tuple[list, list, list]:
    """Policies for envs of ``env_spec`` (``build_run``; None: probed from ``cfg.env``) with the weights of their
    ``cfg.load_checkpoint_kind`` checkpoints: ``(specs, models, checkpoint paths)``, the models in eval mode.

    Raises:
        FileNotFoundError: a policy has no checkpoint (the experiment was never trained).
    """
    run = build_run(cfg, seed, env_spec)
    specs, models, device = run.specs, run.models, run.device
    paths = []
    for spec, model in zip(specs, models, strict=True):
        path = find_checkpoint(experiment_dir(cfg), spec.policy_id, cfg.load_checkpoint_kind)
        if path is None:
            raise FileNotFoundError(
                f"no {cfg.load_checkpoint_kind} checkpoint in {checkpoint_dir(experiment_dir(cfg), spec.policy_id)}: "
                f"train first (python -m marl_sf.train --env={cfg.env} --experiment={cfg.experiment}) "
                "or check --train_dir and --experiment"
            )
        model.load_state_dict(load_checkpoint(path, device)["learner"]["model"])
        model.eval()
        paths.append(path)
    return specs, models, paths


def enjoy(cfg) -> int:
    """Evaluate the experiment's policies for ``cfg.max_num_episodes`` episodes, or the episodes that finish
    within ``--max_num_frames`` env steps summed over the evaluation envs when that comes first, and write the
    report.

    Writes ``<experiment>/eval/report.json``, ``report.md`` and ``report.html`` (``marl_sf.report_html``) and
    prints the table; with ``--save_video``, also ``eval/<video_name>`` (``marl_sf.video``), recorded from the
    first env. Returns 0. Checkpoints are read as weights only (``marl_sf.checkpoint.load_weights_file``).
    ``--no_render`` is accepted and changes nothing: marl_sf opens no window, and renders frames only for
    ``--save_video`` (Sample Factory's ``--no_render`` closes the window it would open).

    Raises:
        FileNotFoundError: no checkpoint to evaluate.
        UnsafeCheckpointError: a checkpoint would run code when unpickled (nothing in it has run).
        OSError: the report folder cannot be written (checked before any episode is played).
        ValueError: a bad ``--video_name``, the env does not render RGB frames with ``--save_video``, or no
            episode finished within ``--max_num_frames`` env steps (nothing to report).
        NonFiniteError: an env returned a NaN or inf.
        MissingExtraError: ``--save_video`` without the ``viz`` extra (checked before anything runs).
    """
    if cfg.save_video:  # before anything runs: the recorder's packages
        require("imageio.v2", "viz", "--save_video")
        require("imageio_ffmpeg", "viz", "--save_video")
    seed_everything(cfg.eval_seed)  # before the envs are made, as for training
    eval_dir = experiment_dir(cfg) / "eval"
    video_path = eval_dir / video_file_name(cfg.video_name) if cfg.save_video else None
    num_envs = max(1, min(cfg.num_envs, cfg.max_num_episodes))
    envs = make_local_envs(cfg, num_envs, "rgb_array" if cfg.save_video else None)
    video = None
    names = list(envs.spec.agent_names)
    try:
        if video_path is not None:
            envs.check_recordable("--save_video")
        specs, models, paths = load_policies(cfg, envs.spec)
        check_writable(eval_dir, "the evaluation report")
        if video_path is not None:
            record = lambda env: VideoRecorder(env, video_path, names, cfg.video_frames, cfg.fps, cfg.env)  # noqa: E731
            video = envs.wrap_first(record, "--save_video")
    except Exception:
        envs.close()
        raise
    returns, lengths = evaluate(
        cfg, specs, models, envs, cfg.max_num_episodes, cfg.eval_deterministic, cfg.eval_seed, video,
        cfg.max_num_frames,
    )  # fmt: skip
    if len(returns) == 0:
        raise ValueError(
            f"no episode finished within --max_num_frames={cfg.max_num_frames} env steps ({num_envs} envs): "
            "raise --max_num_frames"
        )
    agent_policy = agent_policies(specs)
    meta = {
        "env": cfg.env,
        "experiment": cfg.experiment,
        "checkpoint": ", ".join(str(p) for p in paths),
        "settings": {
            "max_num_episodes": cfg.max_num_episodes,
            "max_num_frames": cfg.max_num_frames,
            "deterministic": cfg.eval_deterministic,
            "load_checkpoint_kind": cfg.load_checkpoint_kind,
            "eval_seed": cfg.eval_seed,
            "critic_input": cfg.critic_input,
            "actor_critic_share_weights": cfg.actor_critic_share_weights,
            "policy_mapping": cfg.policy_mapping,
        },
    }
    report = build_report(names, agent_policy, returns, lengths, meta)
    if video is not None:
        report["video"] = video_summary(video)
    print(write_report(report, eval_dir))
    if video is not None:
        print(describe_video(report["video"]))
    print(f"report page: {write_html_report(report, experiment_dir(cfg), cfg.save_plots)}")
    return 0


def video_file_name(name: str) -> str:
    """``--video_name``, checked to be a plain ``.mp4`` file name.

    Raises:
        ValueError: a path or another extension; the message gives the fix.
    """
    check_folder_name(name, "--video_name")
    if not name.endswith(".mp4"):
        raise ValueError(f"--video_name={name!r}: give a file name ending in .mp4 (it is written to <experiment>/eval)")
    return name


def video_summary(video: VideoRecorder) -> dict:
    """The report's ``video`` entry: file name, frames, fps and the per-agent returns of the recorded episodes."""
    episodes = [dict(zip(video.agent_names, map(float, r), strict=True)) for r in video.episode_returns]
    return {"file": video.path.name, "frames": video.frames, "fps": video.fps, "recorded_episodes": episodes}


def describe_video(entry: dict) -> str:
    """Console lines for the video: where it is and each recorded episode's per-agent returns."""
    lines = [f"video: eval/{entry['file']} ({entry['frames']} frames at {entry['fps']:g} fps), recorded episodes:"]
    for i, ep in enumerate(entry["recorded_episodes"], 1):
        lines.append(f"  {i}: " + ", ".join(f"{k} {v:.2f}" for k, v in ep.items()) + f" (team {sum(ep.values()):.2f})")
    return "\n".join(lines)


def main() -> int:
    """``python -m marl_sf.enjoy``; a missing optional extra ends it with one error line and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    try:
        return enjoy(parse_args(evaluation=True))
    except MissingExtraError as exc:
        log.error("error: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
