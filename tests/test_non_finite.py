"""Non-finite values stop the run where they enter (env or learner) and never reach a checkpoint."""

from __future__ import annotations

import logging

import pytest
import torch

from marl_sf.algo.env_workers import EnvWorkerError
from marl_sf.checkpoint import find_checkpoint, load_checkpoint
from marl_sf.envs.registry import register_env
from marl_sf.train import Trainer
from marl_sf.utils.finite import NonFiniteError
from tests.contract_envs import ValuesEnv

# 2 envs x 2 agents x 5-step rollouts = 20 agent-steps per iteration
SMALL = ("--num_envs=2", "--rollout=5", "--batch_size=10", "--num_epochs=1", "--save_every_sec=0")


def _register(name: str, **kwargs) -> None:
    def make(n, cfg=None, env_config=None, render_mode=None):
        return ValuesEnv(env_config.env_id, **kwargs)

    register_env(name, make)


def _all_finite(state: dict) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state["learner"]["model"].values() if v.is_floating_point())


@pytest.mark.parametrize(("key", "workers"), [("reward", 0), ("obs", 1)])
def test_a_nan_from_an_env_stops_the_run_naming_env_and_agent_and_the_latest_checkpoint_stays_finite(
    make_cfg, key, workers
):
    _register(f"nan_{key}", bad_env=1, key=key, at_step=12)  # env 1 goes bad in its third rollout
    cfg = make_cfg(f"--env=nan_{key}", f"--experiment=nan_{key}", *SMALL, f"--num_workers={workers}")
    trainer = Trainer(cfg)
    what = "reward" if key == "reward" else "observation key 'obs'"
    expected = (
        rf"env 1 \(ValuesEnv\) returned a non-finite {what} \(nan\) for agent 'right' \(agent index 1\) at its step 12"
    )
    with pytest.raises(EnvWorkerError if workers else NonFiniteError, match=expected):
        trainer.train()
    state = load_checkpoint(find_checkpoint(trainer.exp_dir, 0), torch.device("cpu"))
    assert state["agent_steps"] == 40 and _all_finite(state)  # the two finite rollouts, and finite weights


def test_a_value_overflow_in_the_learner_names_the_quantity_and_the_step_and_is_not_applied(make_cfg):
    _register("values_env")
    trainer = Trainer(make_cfg("--env=values_env", "--experiment=overflow", *SMALL))
    trainer.sampler.collect()  # a finite rollout
    model = trainer.models[0]
    with torch.no_grad():
        model.critic_linear.weight.mul_(
            1e30
        )  # the critic diverged: finite weights, values whose squared error overflows
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteError, match=r"non-finite value_loss \(inf\) in the learner \(policy 0, train_step 0, "
                                             r"epoch 0, minibatch 0\): the update is not applied"):  # fmt: skip
        trainer.learners[0].train(trainer.storages[0])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert trainer.learners[0].train_step == 0 and not trainer.learners[0].optimizer.state
    trainer.close()


def test_a_non_finite_state_is_never_checkpointed(make_cfg, caplog):
    _register("values_env")
    trainer = Trainer(make_cfg("--env=values_env", "--experiment=nosave", *SMALL, "--train_for_env_steps=20"))
    assert trainer.train() == 0
    latest = find_checkpoint(trainer.exp_dir, 0)
    with torch.no_grad():
        next(trainer.models[0].parameters()).fill_(float("nan"))
    trainer.agent_steps += 20  # a newer checkpoint would get another name
    with caplog.at_level(logging.ERROR, logger="marl_sf"):
        assert trainer.save() is False
    assert "not saving a checkpoint: policy 0 holds non-finite values" in caplog.text
    assert find_checkpoint(trainer.exp_dir, 0) == latest
    assert not list((trainer.exp_dir / "checkpoint_p0").glob("best_*nan*"))


def test_a_run_stopped_during_an_update_checkpoints_the_last_completed_one(make_cfg):
    from marl_sf.models.encoder import MlpEncoder
    from marl_sf.models.factory import global_model_factory

    seen = {"training_forwards": 0, "after_first_update": None}

    class FailingEncoder(MlpEncoder):
        """A user encoder whose fourth training forward fails: the second update stops after its first
        minibatch step (2 minibatches per update)."""

        def forward(self, obs_dict):
            if torch.is_grad_enabled() and self is seen.setdefault("encoder", self):  # one encoder's forwards
                seen["training_forwards"] += 1
                if seen["training_forwards"] == 3:  # the second update's first minibatch
                    seen["after_first_update"] = {k: v.clone() for k, v in trainer.models[0].state_dict().items()}
                if seen["training_forwards"] == 4:
                    seen["at_failure"] = {k: v.clone() for k, v in trainer.models[0].state_dict().items()}
                    raise RuntimeError("the user's encoder failed")
            return super().forward(obs_dict)

    global_model_factory().register_encoder_factory(FailingEncoder)
    _register("values_env_fail")
    cfg = make_cfg("--env=values_env_fail", "--experiment=partial", *SMALL[:-1], "--save_every_sec=1e9")
    trainer = Trainer(cfg)
    with pytest.raises(RuntimeError, match="the user's encoder failed"):
        trainer.train()
    state = load_checkpoint(find_checkpoint(trainer.exp_dir, 0), torch.device("cpu"))
    assert state["agent_steps"] == 20 and state["train_step"] == 1  # one rollout, one completed update
    saved = state["learner"]["model"]
    assert all(torch.equal(saved[k], v) for k, v in seen["after_first_update"].items())
    assert any(not torch.equal(saved[k], v) for k, v in seen["at_failure"].items())  # a step had been taken
