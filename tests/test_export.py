"""``python -m marl_sf.export``: the actors of an experiment as ONNX / ``torch.export`` files that compute what the
torch policy computes, on observations recorded in real episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import marl_sf
from marl_sf.algo.storage import torch_dtype
from marl_sf.envs.pettingzoo import pz_obs_to_dict
from marl_sf.export import ExportError, export_policies, main
from marl_sf.models.encoder import Encoder
from marl_sf.models.factory import global_model_factory
from marl_sf.train import Trainer

onnxruntime = pytest.importorskip("onnxruntime")

SPREAD = ["--env=mpe_simple_spread", "--num_envs=2", "--batch_size=150", "--mpe_max_cycles=25",
          "--train_for_env_steps=300"]  # fmt: skip
PISTONBALL = ["--env=butterfly_pistonball", "--pistonball_n_pistons=3", "--pz_resize", "36", "36",
              "--pz_max_cycles=20", "--num_envs=2", "--rollout=8", "--batch_size=48", "--num_epochs=1",
              "--train_for_env_steps=96"]  # fmt: skip
TICTACTOE = ["--env=classic_tictactoe", "--num_envs=4", "--train_for_env_steps=400"]


class LayerNormEncoder(Encoder):
    """A registered custom encoder: LayerNorm then a tanh MLP over the ``obs`` key."""

    def __init__(self, cfg, obs_space):
        super().__init__(cfg)
        size = obs_space["obs"].shape[0]
        self.net = nn.Sequential(nn.LayerNorm(size), nn.Linear(size, 32), nn.Tanh())

    def forward(self, obs_dict):
        return self.net(obs_dict["obs"])

    def get_out_size(self) -> int:
        return 32


class ValueBranchEncoder(LayerNormEncoder):
    """Python control flow on a tensor's value: nothing an exporter can capture as one graph."""

    def forward(self, obs_dict):
        x = super().forward(obs_dict)
        return x if x.sum() > 0 else -x


def _train(make_cfg, name: str, *argv: str) -> Path:
    trainer = Trainer(make_cfg(*argv, f"--experiment={name}"))
    assert trainer.train() == 0
    return trainer.exp_dir


def _recorded_inputs(policy, steps: int) -> list[list[np.ndarray]]:
    """Per policy, its actor's inputs (``input_names`` order, one row per agent-step) from ``steps`` steps of real
    episodes of the experiment's env played by ``policy``, with the recurrent states the policy carried."""
    rows = [[] for _ in policy.actors]  # per policy: one input list per agent-step
    env = policy.make_env()
    parallel = not hasattr(env, "agent_iter")  # else a turn-based AEC env
    obs = env.reset(seed=0)[0] if parallel else env.reset(seed=0)
    for _ in range(steps):
        if not parallel:
            o, _, terminated, truncated, _ = env.last()
            obs = {} if terminated or truncated else {env.agent_selection: o}
        for name, o in obs.items():
            p, j = policy.policy_of[name]
            actor = policy.actors[p]
            inputs = [torch.as_tensor(np.asarray(pz_obs_to_dict(o)[k]), dtype=torch_dtype(space)).numpy()
                      for k, space in actor.obs_spaces.items()]  # fmt: skip
            if actor.num_env_agents:
                inputs.append(np.asarray(policy.specs[p].agent_indices[j]))
            if actor.rnn_state_size:
                inputs.append(policy.rnn[p][j].numpy().copy())
            rows[p].append(inputs)
        actions = policy.act(obs)
        if parallel:
            obs = env.step(actions)[0]
        else:
            env.step(actions.get(env.agent_selection))
        if not env.agents:
            obs = env.reset()[0] if parallel else env.reset()
            policy.reset()
    env.close()
    return [[np.stack(column) for column in zip(*r, strict=True)] for r in rows if r]  # [steps_p, ...] per input


def _assert_onnx_matches_torch(exp: Path, steps: int = 60) -> None:
    paths = export_policies(exp, "onnx")
    policy = marl_sf.load_policy(exp, deterministic=False)
    greedy = marl_sf.load_policy(exp)
    for p, inputs in enumerate(_recorded_inputs(policy, steps)):
        session = onnxruntime.InferenceSession(str(paths[p]))
        description = json.loads(paths[p].with_suffix(".json").read_text())
        names = [i["name"] for i in description["inputs"]]
        assert names == greedy.actors[p].input_names
        got = session.run(None, dict(zip(names, inputs, strict=True)))
        with torch.no_grad():
            want = [t.numpy() for t in greedy.actors[p](*(torch.as_tensor(x) for x in inputs))]
        assert len(got) == len(want) == len(description["outputs"])
        if not np.issubdtype(want[0].dtype, np.floating):
            np.testing.assert_array_equal(got[0], want[0])  # greedy discrete actions: identical
        for g, w in zip(got, want, strict=True):  # (Box) actions, logits, new recurrent states
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("mlp", [*SPREAD, "--add_agent_id=True"]),  # centralized critic; the agent index as an input
        ("conv", PISTONBALL),
        ("gru", [*SPREAD, "--use_rnn=True"]),
        ("masked", TICTACTOE),  # AEC, action mask, self-play
        ("box", [*SPREAD, "--mpe_continuous_actions=True"]),
    ],
)
def test_onnx_gives_the_torch_policys_actions_and_logits_on_recorded_observations(make_cfg, name, argv):
    _assert_onnx_matches_torch(_train(make_cfg, name, *argv))


def test_a_registered_custom_encoder_exports(make_cfg):
    global_model_factory().register_encoder_factory(LayerNormEncoder)
    _assert_onnx_matches_torch(_train(make_cfg, "custom", *SPREAD), steps=30)


def test_torch_export_files_run_with_torch_alone(make_cfg):
    exp = _train(make_cfg, "gru_pt2", *SPREAD, "--use_rnn=True")
    (path,) = export_policies(exp, "torch_export")
    program = torch.export.load(str(path)).module()
    actor = marl_sf.load_policy(exp).actors[0]
    inputs = actor.example_inputs(7, torch.Generator().manual_seed(3))
    with torch.no_grad():
        for got, want in zip(program(*inputs), actor(*inputs), strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_a_model_that_cannot_be_exported_names_its_module_and_writes_nothing(make_cfg, capsys):
    global_model_factory().register_encoder_factory(ValueBranchEncoder)
    exp = _train(make_cfg, "branchy", *SPREAD)
    with pytest.raises(ExportError, match=r"module 'actor_encoder' \(ValueBranchEncoder, .*test_export.py:\d+\)"):
        export_policies(exp, "torch_export")
    assert not (exp / "export").exists() or not any((exp / "export").iterdir())
    assert main([f"--train_dir={exp.parent}", f"--experiment={exp.name}"]) == 1  # the command: one line, exit 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be exported" in err[0] and "torch.where" in err[0]
    assert not (exp / "export").exists() or not any((exp / "export").iterdir())


def test_an_opset_the_exporter_does_not_write_is_an_error_not_a_silent_fallback(make_cfg):
    exp = _train(make_cfg, "opset", *SPREAD)
    with pytest.raises(ExportError, match=r"wrote ONNX opset \d+, not the requested --opset=7"):
        export_policies(exp, "onnx", opset=7)
    assert not (exp / "export").exists()


def test_the_docs_export_command_and_onnxruntime_snippet_run(make_cfg, capsys):
    exp = _train(make_cfg, "docs_export", *SPREAD)
    page = (Path(__file__).resolve().parents[1] / "docs" / "using_policies.md").read_text()
    command = page.split("```bash\npython -m marl_sf.export ", 1)[1].split("\n", 1)[0].split()
    assert main([*command, f"--train_dir={exp.parent}", f"--experiment={exp.name}"]) == 0
    code = page.split("```python\nimport onnxruntime", 1)[1].split("```", 1)[0]
    exec("import onnxruntime" + code.replace('"train_dir/simple_spread_mappo"', repr(str(exp))), {})
    assert "agent_0" in capsys.readouterr().out
