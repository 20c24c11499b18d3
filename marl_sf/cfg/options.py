"""Every command-line option of marl_sf with its default (``--help`` prints them all)."""

from __future__ import annotations

import argparse
import json
import os

from marl_sf.cfg.no_effect import add_no_effect_args
from marl_sf.models.critic_input import CRITIC_INPUTS
from marl_sf.utils.types import str2bool


def add_basic_args(p: argparse.ArgumentParser) -> None:
    """The experiment: env, name, where it lives, device, seed."""
    g = p.add_argument_group("experiment")
    g.add_argument("--env", type=str, default=None, help="registered env name (python -m marl_sf.envs lists them)")
    g.add_argument("--experiment", type=str, default="default_experiment", help="experiment name (folder)")
    g.add_argument("--train_dir", type=str, default=os.path.join(os.getcwd(), "train_dir"), help="experiments root")
    g.add_argument(
        "--restart_behavior",
        default="resume",
        choices=["resume", "restart", "overwrite"],
        help="if the experiment folder exists: resume it, restart (keep the old folder under a new name) "
        "or overwrite (delete it)",
    )
    g.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="gpu (falls back to cpu) or cpu")
    g.add_argument("--seed", type=int, default=None, help="random seed (None: drawn and saved in config.json)")
    g.add_argument("--torch_threads", type=int, default=1, help="torch intra-op threads for inference")
    g.add_argument(
        "--learner_torch_threads", type=int, default=0, help="torch threads while learning (0: one per core)"
    )


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """Sampling: how many envs, how long a rollout, which policy acts for which agent."""
    g = p.add_argument_group("sampling")
    g.add_argument("--num_envs", type=int, default=16, help="envs stepped together by the sampler (E)")
    g.add_argument("--rollout", type=int, default=32, help="env steps per rollout per env (T)")
    g.add_argument(
        "--num_workers",
        type=int,
        default=-1,
        help="env worker processes; 0: step the envs in the main process; -1: one per CPU core (lowered to a "
        "divisor of --num_envs)",
    )
    g.add_argument(
        "--worker_num_splits",
        type=int,
        default=2,
        help="env groups: the sampler runs inference on one group while the others step (double buffering); "
        "--num_envs must be a multiple of num_workers x worker_num_splits",
    )
    g.add_argument(
        "--num_envs_per_worker", type=int, default=None, help="Sample Factory's sizing: when set, --num_envs becomes "
        "this x the env workers (x 1 with no workers)"
    )  # fmt: skip
    g.add_argument("--serial_mode", type=str2bool, default=False, help="step every env in the main process")
    g.add_argument(
        "--worker_timeout_sec", type=float, default=60.0, help="an env worker silent this long is reported hung"
    )
    g.add_argument(
        "--worker_start_method",
        default="fork",
        choices=["fork", "spawn"],
        help="how env worker processes start; spawn needs a picklable env maker (a module-level function)",
    )
    g.add_argument(
        "--policy_mapping",
        default="auto",
        help="agent -> policy: auto (one policy per set of agents with the same spaces: parameter sharing where "
        "the spaces allow it), shared (one policy for all agents), per_agent, per_group (one policy per agent "
        "name prefix, e.g. adversary_*/agent_*), self_play (shared, plus opponents from a pool of its own "
        "snapshots), or a name registered with marl_sf.register_policy_mapping",
    )
    g.add_argument(
        "--num_policies",
        type=int,
        default=-1,
        help="policies; -1: as many as the mapping uses. A mapping returning an id outside [0, num_policies) "
        "is an error",
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model: weights sharing, critic input, encoder/core/decoder sizes."""
    g = p.add_argument_group("model")
    g.add_argument("--actor_critic_share_weights", type=str2bool, default=True, help="one trunk for policy and value")
    g.add_argument(
        "--critic_input",
        default="local",
        choices=list(CRITIC_INPUTS),
        help="local: own observation (IPPO); state: the env's global state (MAPPO); state_local: state + own "
        "observation + one-hot agent id; joint_obs: every agent's observation joined (envs without state())",
    )
    g.add_argument("--add_agent_id", type=str2bool, default=False, help="the actor also sees a one-hot agent id")
    g.add_argument(
        "--critic_only_obs_keys",
        nargs="*",
        default=[],
        help="obs-dict keys that only the critic sees (asymmetric actor-critic), e.g. privileged information",
    )
    g.add_argument("--encoder_mlp_layers", type=int, nargs="*", default=[64, 64], help="MLP encoder sizes")
    g.add_argument("--decoder_mlp_layers", type=int, nargs="*", default=[], help="MLP decoder sizes")
    g.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu", "elu"], help="activation")
    g.add_argument(
        "--encoder_conv_architecture",
        default="convnet_simple",
        choices=["convnet_simple", "convnet_atari", "convnet_impala"],
        help="conv encoder for image observations ([H, W, C] or [C, H, W] Box keys)",
    )
    g.add_argument(
        "--encoder_conv_mlp_layers", type=int, nargs="*", default=[512], help="MLP sizes after the conv encoder"
    )
    g.add_argument(
        "--obs_scale", type=float, default=1.0, help="observations are divided by this (255 for uint8 images)"
    )
    g.add_argument(
        "--normalize_input", type=str2bool, default=False, help="normalize inputs with running mean/std (saved)"
    )
    g.add_argument(
        "--adaptive_stddev",
        type=str2bool,
        default=False,
        help="Box actions: a state-dependent log-std from the network instead of one learned parameter per dimension",
    )
    g.add_argument(
        "--obs_subtract_mean",
        type=float,
        default=0.0,
        help="subtracted from observations before --obs_scale divides them",
    )
    g.add_argument(
        "--normalize_input_keys",
        nargs="*",
        default=None,
        help="obs keys --normalize_input normalizes (default: every actor and critic input)",
    )
    g.add_argument(
        "--policy_initialization",
        default="orthogonal",
        choices=["orthogonal", "xavier_uniform", "torch_default"],
        help="init of the trunk's layers (heads keep their small orthogonal init)",
    )
    g.add_argument(
        "--policy_init_gain",
        type=float,
        default=1.0,
        help="multiplies the trunk's init gain (orthogonal: sqrt(2) x this; xavier_uniform: this)",
    )
    g.add_argument("--initial_stddev", type=float, default=1.0, help="Box actions: initial standard deviation")
    g.add_argument(
        "--continuous_tanh_scale",
        type=float,
        default=0.0,
        help="Box actions: above 0, the mean is this x tanh(raw mean / this), as in Sample Factory",
    )
    g.add_argument("--use_rnn", type=str2bool, default=False, help="recurrent core instead of feed-forward")
    g.add_argument("--rnn_type", default="gru", choices=["gru", "lstm"], help="recurrent core type")
    g.add_argument("--rnn_size", type=int, default=64, help="recurrent state size per layer")
    g.add_argument("--rnn_num_layers", type=int, default=1, help="recurrent layers")
    g.add_argument(
        "--recurrence",
        type=int,
        default=-1,
        help="BPTT length: marl_sf backpropagates through the "
        "whole rollout, so -1 (or --rollout, or 1 without --use_rnn)",
    )


def add_ppo_args(p: argparse.ArgumentParser) -> None:
    """PPO / MAPPO learning options."""
    g = p.add_argument_group("ppo")
    g.add_argument("--gamma", type=float, default=0.99, help="discount factor")
    g.add_argument("--gae_lambda", type=float, default=0.95, help="GAE lambda")
    g.add_argument("--num_epochs", type=int, default=4, help="passes over each rollout")
    g.add_argument(
        "--num_minibatches",
        "--num_batches_per_epoch",
        type=int,
        default=4,
        help="minibatches per epoch over each policy's rollout (used unless --batch_size is set)",
    )
    g.add_argument(
        "--batch_size",
        type=int,
        default=0,
        help="minibatch size in agent-steps (0: use --num_minibatches); a size that does not divide rollout x "
        "num_envs x agents of the policy gives near-equal minibatches, one larger than the rollout is clipped",
    )
    g.add_argument(
        "--value_bootstrap",
        type=str2bool,
        default=False,
        help="bootstrap the value target of an episode cut by a time limit (truncated) from V(final "
        "observation); off: a truncation ends the return like a termination (Sample Factory's default)",
    )
    g.add_argument(
        "--time_aware_critic",
        type=str2bool,
        default=True,
        help="the critic also sees the episode's progress t / max_episode_steps (obs key episode_progress, hidden "
        "from the actor) where the env declares a time limit and the encoders are built-in: the return still to "
        "come depends on the time left (Pardo et al. 2018)",
    )
    g.add_argument("--learning_rate", type=float, default=3e-4, help="Adam learning rate")
    g.add_argument(
        "--lr_schedule", default="constant", choices=["constant", "linear_decay", "kl_adaptive_minibatch",
        "kl_adaptive_epoch"], help="lr schedule; kl_adaptive_*: after each minibatch (epoch) the lr is divided by 1.5 "
        "when KL(behaviour || current) > 2 x --lr_schedule_kl_threshold and multiplied by 1.5 below half of it"
    )  # fmt: skip
    g.add_argument("--lr_schedule_kl_threshold", type=float, default=0.008, help="KL target of kl_adaptive_*")
    g.add_argument("--lr_adaptive_min", type=float, default=1e-6, help="lowest lr of kl_adaptive_*")
    g.add_argument("--lr_adaptive_max", type=float, default=1e-2, help="highest lr of kl_adaptive_*")
    g.add_argument(
        "--optimizer", default="adam", choices=["adam", "lamb"], help="adam, or lamb (pip install torch-optimizer)"
    )
    g.add_argument(
        "--reward_scale",
        type=float,
        default=1.0,
        help="rewards are multiplied by this for learning (episode returns are reported unscaled)",
    )
    g.add_argument("--reward_clip", type=float, default=1000.0, help="scaled rewards are clipped to +-this")
    g.add_argument(
        "--exploration_loss",
        default="entropy",
        choices=["entropy", "symmetric_kl"],
        help="exploration "
        "term weighted by --exploration_loss_coeff: entropy bonus, or the symmetric KL to the uniform "
        "policy (discrete actions)",
    )
    g.add_argument("--kl_loss_coeff", type=float, default=0.0, help="weight of a KL(behaviour || current) penalty")
    g.add_argument(
        "--shuffle_minibatches",
        type=str2bool,
        default=True,
        help="draw each epoch's minibatches in a new random order (off: the same contiguous cells every epoch)",
    )
    g.add_argument("--adam_eps", type=float, default=1e-5, help="Adam epsilon")
    g.add_argument("--adam_beta1", type=float, default=0.9, help="Adam beta1")
    g.add_argument("--adam_beta2", type=float, default=0.999, help="Adam beta2")
    g.add_argument("--ppo_clip_ratio", type=float, default=0.2, help="surrogate clip epsilon")
    g.add_argument(
        "--ppo_clip_value",
        type=float,
        default=0.2,
        help="value clip (normalized units when normalize_returns)",
    )
    g.add_argument("--value_loss_coeff", type=float, default=1.0, help="value loss weight (the loss is 0.5 x the "
                   "squared error: 1.0 here weighs it as Sample Factory's 0.5)")  # fmt: skip
    g.add_argument("--exploration_loss_coeff", type=float, default=0.01, help="weight of the exploration term "
                   "(--exploration_loss: entropy bonus or symmetric KL to uniform)")  # fmt: skip
    g.add_argument("--max_grad_norm", type=float, default=10.0, help="gradient norm clip (0: off)")
    g.add_argument("--normalize_advantages", type=str2bool, default=True, help="advantage normalization")
    g.add_argument("--normalize_returns", type=str2bool, default=True, help="value normalization (MAPPO ValueNorm)")


def add_run_args(p: argparse.ArgumentParser) -> None:
    """How long to train, checkpoints, logging."""
    g = p.add_argument_group("run")
    g.add_argument("--train_for_env_steps", type=int, default=10_000_000, help="stop after this many agent-steps")
    g.add_argument("--train_for_seconds", type=float, default=1e10, help="stop after this much wall time")
    g.add_argument("--save_every_sec", type=float, default=120.0, help="checkpoint period")
    g.add_argument("--keep_checkpoints", type=int, default=2, help="latest checkpoints kept (plus the best)")
    g.add_argument("--stats_avg", type=int, default=100, help="episodes averaged for stats and the best model")
    g.add_argument(
        "--experiment_summaries_interval",
        type=float,
        default=10.0,
        help="seconds between two "
        "TensorBoard summary writes (every update's statistics are averaged into the next write)",
    )
    g.add_argument("--flush_summaries_interval", type=float, default=30.0, help="seconds between TensorBoard flushes")
    g.add_argument("--log_to_file", type=str2bool, default=True, help="also write the log to <experiment>/sf_log.txt")
    g.add_argument(
        "--save_best_every_sec", type=float, default=5.0, help="period of the best-checkpoint check on the training "
        "return (before the first evaluation; after it, each evaluation is checked)"
    )  # fmt: skip
    g.add_argument(
        "--save_best_metric",
        default="reward",
        choices=["reward"],
        help="what the best checkpoint maximizes: reward (the mean episode return of the latest evaluation, see "
        "--eval_every_sec, or of the last --stats_avg training episodes before the first; Elo rating in self-play)",
    )
    g.add_argument(
        "--eval_every_sec", type=float, default=120.0, help="seconds of training between two evaluations of the "
        "current policies (--eval_episodes episodes sampled and greedy, as enjoy plays them; the final policy too "
        "once one was evaluated); the best checkpoint is chosen on them; <= 0: never (the training return decides)"
    )  # fmt: skip
    g.add_argument("--eval_episodes", type=int, default=10, help="episodes per evaluation during training and mode")
    g.add_argument(
        "--save_best_after", type=int, default=0, help="agent-steps before a best checkpoint is kept (Sample Factory: "
        "100000; 0 here, so that a short run has a best checkpoint too)"
    )  # fmt: skip
    g.add_argument(
        "--save_milestones_sec",
        type=float,
        default=-1,
        help="also keep a copy of the checkpoint every "
        "this many seconds in <experiment>/checkpoint_p<id>/milestones (-1: never)",
    )
    g.add_argument(
        "--with_wandb",
        type=str2bool,
        default=False,
        help="mirror the TensorBoard summaries to Weights & "
        "Biases (pip install marl-sf[wandb]; WANDB_MODE=offline works without a network)",
    )
    g.add_argument("--wandb_user", default=None, help="W&B entity")
    g.add_argument("--wandb_project", default="marl_sf", help="W&B project")
    g.add_argument("--wandb_group", default=None, help="W&B group (default: the env name)")
    g.add_argument("--wandb_job_type", default="marl_sf", help="W&B job type")
    g.add_argument("--wandb_tags", nargs="*", default=[], help="W&B tags")
    g.add_argument("--wandb_dir", default=None, help="W&B files (default: <experiment>/wandb)")
    g.add_argument("--status_every_sec", type=float, default=5.0, help="status line period")
    g.add_argument("--progress_bar", type=str2bool, default=True, help="show a progress bar")
    g.add_argument(
        "--save_plots", type=str2bool, default=True, help="write the learning curves to <experiment>/plots/ when "
        "training ends (python -m marl_sf.plot writes them at any time)"
    )  # fmt: skip


def add_eval_args(p: argparse.ArgumentParser) -> None:
    """Evaluation (``python -m marl_sf.enjoy``)."""
    g = p.add_argument_group("evaluation")
    g.add_argument("--max_num_episodes", type=int, default=100, help="episodes to evaluate")
    g.add_argument(
        "--max_num_frames",
        type=int,
        default=1_000_000_000,
        help="evaluation also stops after this many env steps (summed over the evaluation envs)",
    )
    g.add_argument(
        "--no_render", action="store_true", help="evaluate without rendering (marl_sf renders only for --save_video)"
    )
    g.add_argument(
        "--eval_deterministic", type=str2bool, default=False, help="argmax/mean actions instead of sampled ones (the "
        "policy PPO trains); sampled by default, as in Sample Factory: docs/sample_factory.md gives the measurements"
    )  # fmt: skip
    g.add_argument("--load_checkpoint_kind", default="latest", choices=["latest", "best"], help="which checkpoint")
    g.add_argument("--eval_seed", type=int, default=12345, help="seed of the evaluation envs")
    g.add_argument(
        "--save_video", type=str2bool, nargs="?", const=True, default=False, help="record the first evaluation "
        "env's frames (render_mode='rgb_array') with the agents' returns into <experiment>/eval/<video_name>"
    )  # fmt: skip
    g.add_argument(
        "--video_frames", type=int, default=-1, help="frames to record (evaluation goes on until both the video "
        "and --max_num_episodes are done); -1: every frame of the evaluation"
    )  # fmt: skip
    g.add_argument("--video_name", type=str, default="replay.mp4", help="the video's file name in <experiment>/eval")
    g.add_argument("--fps", type=float, default=0, help="frames per second of the video; 0: the env's render_fps")


def add_plot_args(p: argparse.ArgumentParser) -> None:
    """Learning curves (``python -m marl_sf.plot``)."""
    g = p.add_argument_group("plots")
    g.add_argument(
        "--compare_experiments", nargs="*", default=[], help="other experiments (in --train_dir) drawn on the same "
        "axes as --experiment, written to <experiment>/plots/compare_*.png"
    )  # fmt: skip
    g.add_argument(
        "--aggregate_seeds", type=str2bool, nargs="?", const=True, default=False, help="with --compare_experiments: "
        "also group the experiments into configurations (runs differing only in seed or env) and draw the IQM over "
        "runs with stratified-bootstrap 95%% intervals and performance profiles (marl_sf.aggregate)"
    )  # fmt: skip
    g.add_argument(
        "--sweep", default=None, help="a folder of experiments (a launcher run: train_dir/<run_name>): aggregate "
        "every experiment below it as --aggregate_seeds does, figures and aggregate.json in <sweep>/plots/"
    )  # fmt: skip


def add_selfplay_args(p: argparse.ArgumentParser) -> None:
    """Opponents: pools of frozen snapshots and scripted policies, matchmaking, ratings."""
    g = p.add_argument_group("self-play")
    g.add_argument(
        "--self_play", type=str2bool, default=False, help="add a frozen snapshot of each learning policy to its "
        "opponent pool every --pool_snapshot_every agent-steps (on with --policy_mapping=self_play)"
    )  # fmt: skip
    g.add_argument(
        "--pool_scripted", nargs="*", default=[], help="scripted policies (registered names, e.g. random) that "
        "are pool members from the start; with them alone, training faces fixed opponents"
    )  # fmt: skip
    g.add_argument(
        "--pool_sampling",
        default="pfsp",
        choices=["latest", "uniform", "pfsp"],
        help="how an episode's opponent is drawn: newest snapshot, uniform, or prioritized fictitious self-play",
    )
    g.add_argument("--pfsp_power", type=float, default=2.0, help="PFSP weight (1 - P[learner beats B]) ** p")
    g.add_argument("--pool_snapshot_every", type=int, default=200_000, help="agent-steps between snapshots")
    g.add_argument("--pool_max_snapshots", type=int, default=20, help="snapshots kept per pool (oldest dropped)")
    g.add_argument(
        "--opponent_prob", type=float, default=1.0, help="fraction of episodes in which one side is played by a "
        "pool member (drawn per episode, seat at random); the others are played by the learning policies alone"
    )  # fmt: skip
    g.add_argument(
        "--pool_dir", default="", help="the pool folder (default: <experiment>/pool); an explicit folder must exist"
    )
    g.add_argument("--elo_k", type=float, default=16.0, help="Elo K-factor for the training-time ratings")
    g.add_argument(
        "--search_c_puct",
        type=float,
        default=1.25,
        help="PUCT exploration constant of "
        "<player>+puct:<simulations> players (tournament, and latest+puct:<n> pool members)",
    )
    g.add_argument(
        "--search_prior_mix",
        type=float,
        default=0.5,
        help="PUCT priors: this fraction of uniform over the legal moves mixed into the policy's probabilities",
    )
    g.add_argument(
        "--search_rollout_mix",
        type=float,
        default=0.0,
        help="PUCT leaf values: this fraction of one random playout's outcome mixed into the critic's value "
        "(AlphaGo's lambda; 0: the critic alone)",
    )
    g.add_argument(
        "--search_solve_empties",
        type=int,
        default=0,
        help="PUCT endgame solver: a position with at most this many empty cells has its moves solved to the end "
        "of the game by alpha-beta before the search, within --search_solve_nodes (0: never)",
    )
    g.add_argument(
        "--search_solve_nodes",
        type=int,
        default=100_000,
        help="the endgame solver's budget per move played, in positions searched (15-20 microseconds each on a core)",
    )


def add_appo_args(p: argparse.ArgumentParser) -> None:
    """Asynchronous sampling and learning (Sample Factory's APPO) and V-trace."""
    g = p.add_argument_group("appo")
    g.add_argument(
        "--algo",
        default="APPO",
        choices=["APPO", "PPO"],
        help="the loss is PPO's either way; APPO is Sample Factory's name, asynchrony is --async_rl",
    )
    g.add_argument(
        "--async_rl", type=str2bool, default=False, help="sample the next rollouts with the newest weights the "
        "sampler has while the learner trains on earlier ones (policy lag bounded by --max_policy_lag); off: each "
        "rollout is collected with the current weights (synchronous PPO)"
    )  # fmt: skip
    g.add_argument(
        "--max_policy_lag", type=int, default=1, help="with --async_rl: the sampler runs at most this many updates "
        "ahead of the learner, so no rollout is trained on more than this many updates after the weights that "
        "collected it (a version is one update of a policy; summaries: version_diff)"
    )  # fmt: skip
    g.add_argument(
        "--num_batches_to_accumulate", type=int, default=2, help="with --async_rl: finished rollouts that may wait "
        "for the learner before the sampler pauses (bounds the memory of the queued copies and, with "
        "--max_policy_lag, the lag)"
    )  # fmt: skip
    g.add_argument(
        "--with_vtrace",
        type=str2bool,
        default=False,
        help="V-trace value targets and advantages (Espeholt et al. 2018) instead of GAE",
    )
    g.add_argument(
        "--vtrace_rho",
        type=float,
        default=1.0,
        help="V-trace rho-bar: clip of the importance weights of the TD errors and policy-gradient advantages",
    )
    g.add_argument("--vtrace_c", type=float, default=1.0, help="V-trace c-bar: clip of the trace-cutting weights")


def add_env_args(p: argparse.ArgumentParser) -> None:
    """Options an env's maker reads (Sample Factory's env options; marl_sf itself does not transform envs)."""
    g = p.add_argument_group("env")
    g.add_argument(
        "--env_frameskip",
        type=int,
        default=1,
        help="frames an env maker repeats each action for "
        "(read by the maker; with --summaries_use_frameskip, summaries count frames)",
    )
    g.add_argument("--env_framestack", type=int, default=1, help="frames an env maker stacks (read by the maker)")
    g.add_argument(
        "--pixel_format", default="CHW", help="image layout an env maker returns (marl_sf's encoders take CHW and HWC)"
    )
    g.add_argument(
        "--summaries_use_frameskip",
        type=str2bool,
        default=True,
        help="summaries' x-axis in frames (agent-steps x --env_frameskip)",
    )
    g.add_argument(
        "--eval_env_frameskip",
        type=int,
        default=None,
        help="an env maker's frameskip in evaluation (read by the maker; default --env_frameskip)",
    )


def add_distributed_args(p: argparse.ArgumentParser) -> None:
    """Beyond one process: sampler actors on Ray, data-parallel learners on torch.distributed (docs/distributed.md)."""
    g = p.add_argument_group("distributed")
    g.add_argument(
        "--num_learners", type=int, default=1, help="learner processes under torch.distributed (DD-PPO: each samples "
        "--num_envs / N envs, gradients are summed; rank 0 writes the experiment; docs/distributed.md)"
    )  # fmt: skip
    g.add_argument(
        "--distributed", default="none", choices=["none", "ray"], help="none: sample in this process and its env "
        "workers; ray: sample in --num_samplers Ray actors (pip install marl-sf[ray]), learn here"
    )  # fmt: skip
    g.add_argument(
        "--num_samplers", type=int, default=2, help="with --distributed=ray: sampler actors, each stepping "
        "--num_envs / N envs with a copy of every policy"
    )  # fmt: skip
    g.add_argument(
        "--ray_address", default=None, help="with --distributed=ray: the cluster to join (auto, or host:port); "
        "unset: start a local Ray instance for the run and shut it down after"
    )  # fmt: skip
    g.add_argument("--sampler_num_cpus", type=float, default=1.0, help="CPUs Ray reserves for each sampler actor")
    g.add_argument(
        "--sampler_num_gpus", type=float, default=0.0, help="GPUs Ray reserves for each sampler actor (a fraction "
        "shares one); above 0 the sampler's policies and a vectorized env's tensors run on it"
    )  # fmt: skip
    g.add_argument(
        "--sampler_max_restarts", type=int, default=100, help="times Ray restarts a dead sampler actor before the "
        "run gives up"
    )  # fmt: skip


def add_pbt_args(p: argparse.ArgumentParser) -> None:
    """Population-based training (``marl_sf.pbt``; Sample Factory's names, budgets in agent-steps per member)."""
    g = p.add_argument_group("population-based training")
    g.add_argument(
        "--with_pbt",
        type=str2bool,
        default=False,
        help="train a population of --num_policies members "
        "(each its own copy of the experiment's policies and envs) with PBT (Jaderberg et al. 2017)",
    )
    g.add_argument(
        "--pbt_period_env_steps",
        type=int,
        default=100_000,
        help="agent-steps of each member between two PBT updates (exploit and explore)",
    )
    g.add_argument("--pbt_start_mutation", type=int, default=0, help="agent-steps before the first PBT update")
    g.add_argument(
        "--pbt_replace_fraction",
        type=float,
        default=0.3,
        help="the best and the worst fraction of the "
        "population: a worst member may take the weights and hyperparameters of a best one",
    )
    g.add_argument(
        "--pbt_mutation_rate",
        type=float,
        default=0.15,
        help="chance that each hyperparameter of a member that is not among the best is perturbed at an update",
    )
    g.add_argument(
        "--pbt_replace_reward_gap",
        type=float,
        default=0.1,
        help="a worst member is replaced only when "
        "the best one's objective is ahead by this fraction of its magnitude ...",
    )
    g.add_argument("--pbt_replace_reward_gap_absolute", type=float, default=1e-6, help="... and by this much")
    g.add_argument("--pbt_optimize_gamma", type=str2bool, default=False, help="also perturb the discount gamma")
    g.add_argument(
        "--pbt_target_objective",
        default="episode_return",
        choices=["episode_return", "true_objective"],
        help="what members are ranked by: the mean training episode return of their last episodes (true_objective, "
        "Sample Factory's name, is the same here: no env reports another objective)",
    )
    g.add_argument(
        "--pbt_perturb_min",
        type=float,
        default=1.1,
        help="a perturbation multiplies or divides a "
        "hyperparameter by a factor drawn uniformly in [pbt_perturb_min, pbt_perturb_max]",
    )
    g.add_argument("--pbt_perturb_max", type=float, default=1.5, help="see --pbt_perturb_min")
    g.add_argument(
        "--pbt_mix_policies_in_one_env",
        type=str2bool,
        default=False,
        help="members acting in the same "
        "envs: not supported (each member has its own envs; self-play pools let policies meet)",
    )


def add_all_args(p: argparse.ArgumentParser) -> None:
    """Every option group."""
    adds = (add_basic_args, add_sampling_args, add_model_args, add_ppo_args, add_appo_args, add_run_args)
    for add in (*adds, add_eval_args, add_env_args, add_distributed_args, add_selfplay_args, add_pbt_args):
        add(p)
    add_no_effect_args(p)


# options that decide the shapes of a policy's parameters: a checkpoint loads only into a model built with the same
MODEL_SHAPE_OPTIONS = (
    "policy_mapping",
    "num_policies",
    "actor_critic_share_weights",
    "critic_input",
    "add_agent_id",
    "critic_only_obs_keys",
    "time_aware_critic",
    "encoder_mlp_layers",
    "decoder_mlp_layers",
    "nonlinearity",
    "encoder_conv_architecture",
    "encoder_conv_mlp_layers",
    "normalize_input",
    "normalize_input_keys",
    "adaptive_stddev",
    "use_rnn",
    "rnn_type",
    "rnn_size",
    "rnn_num_layers",
    "normalize_returns",
)


def model_option_diff(saved: dict | str | None, cfg) -> list[str]:
    """The model-shaping options (``MODEL_SHAPE_OPTIONS``) whose value in ``cfg`` differs from ``saved``.

    Args:
        saved: a checkpoint's config, as a dict or a JSON string (None or unreadable: no difference found).
        cfg: the current config.

    Returns:
        ``["--name: checkpoint <saved value>, now <current value>", ...]``, then the options the saved config
        lacks (it predates them).
    """
    if isinstance(saved, str):
        try:
            saved = json.loads(saved)
        except json.JSONDecodeError:
            return []
    if not isinstance(saved, dict):
        return []
    differ = [
        f"--{k}: checkpoint {saved[k]!r}, now {cfg[k]!r}"
        for k in MODEL_SHAPE_OPTIONS
        if k in saved and k in cfg and _normalized(saved[k]) != _normalized(cfg[k])
    ]
    newer = [
        f"--{k}: not in the checkpoint's config (saved before the option existed; pass the value that reproduces "
        f"the old model), now {cfg[k]!r}"
        for k in MODEL_SHAPE_OPTIONS
        if k not in saved and k in cfg
    ]
    return differ + newer


def _normalized(value):
    """Lists and tuples compare equal (a JSON round trip turns one into the other)."""
    return list(value) if isinstance(value, tuple) else value
