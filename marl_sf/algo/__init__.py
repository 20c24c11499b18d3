"""The learning algorithm: GAE, PPO losses, value normalization, rollout storage, sampler and learner."""
