"""Self-play building blocks: Elo known answers, the scripted-policy registry."""

from __future__ import annotations

import numpy as np
import pytest

import marl_sf
from marl_sf.selfplay.elo import EloRatings
from marl_sf.selfplay.scripted import scripted_batch_policy, scripted_policy


def test_elo_updates_on_known_values(tmp_path):
    elo = EloRatings(k=32.0, initial=1200.0)
    assert elo.expected("a", "b") == pytest.approx(0.5)
    assert elo.update("a", "b", 1.0) == pytest.approx((1216.0, 1184.0))
    elo.ratings.update(strong=1400.0, weak=1200.0)
    assert elo.expected("strong", "weak") == pytest.approx(1 / (1 + 10 ** (-0.5)))  # 0.7597
    strong, weak = elo.update("strong", "weak", 0.0)  # the upset moves 32 * 0.7597 points
    assert weak - 1200.0 == pytest.approx(32.0 * 0.75974692, abs=1e-6)
    assert strong + weak == pytest.approx(2600.0)  # zero-sum
    assert elo.update("a", "b", 0.5)[0] < 1216.0  # a draw against a weaker player costs points
    elo.save(tmp_path / "elo.json")
    loaded = EloRatings.load(tmp_path / "elo.json")
    assert loaded.ratings == elo.ratings and loaded.games == {"a": 2, "b": 2, "strong": 1, "weak": 1}
    with pytest.raises(ValueError, match="use 1 for a win"):
        elo.update("a", "b", 2.0)
    with pytest.raises(ValueError, match="cannot read Elo ratings"):
        EloRatings.load(tmp_path / "missing.json")


def test_scripted_policies_by_name():
    rng = np.random.default_rng(0)
    random_policy = scripted_policy("random")
    mask = np.array([0, 1, 0, 1], np.int8)
    picks = {random_policy({"obs": None, "action_mask": mask}, rng) for _ in range(50)}
    assert picks == {1, 3}  # only legal moves, both of them
    marl_sf.register_scripted_policy("leftmost", lambda obs: int(np.flatnonzero(obs["action_mask"])[0]))
    assert scripted_policy("leftmost")({"action_mask": mask}) == 1
    masks = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1]], np.int8)
    assert scripted_batch_policy("leftmost")({"action_mask": masks}).tolist() == [1, 0, 2]  # one call per row
    marl_sf.register_scripted_policy("rightmost", lambda obs: 3 - obs["action_mask"][:, ::-1].argmax(1), batched=True)
    assert scripted_batch_policy("rightmost")({"action_mask": masks}).tolist() == [3, 0, 3]  # one call per batch
    assert scripted_policy("rightmost")({"action_mask": mask}) == 3
    batch = scripted_batch_policy("random")({"action_mask": np.tile(mask, (400, 1))}, rng)
    assert set(batch.tolist()) == {1, 3} and abs((batch == 1).mean() - 0.5) < 0.1  # uniform over the legal ones
    with pytest.raises(ValueError, match="no legal action"):
        scripted_batch_policy("random")({"action_mask": np.zeros((2, 4), np.int8)})
    with pytest.raises(ValueError, match=r"unknown scripted policy 'nope'; registered: \[.*'random'"):
        scripted_policy("nope")
