"""``python -m marl_sf.launcher.run``: a grid of real training runs on local processes and on Ray, a failing run
reported while the others finish, a Sample Factory run-description module after the sed, Slurm scripts."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from marl_sf.launcher.run import main
from marl_sf.launcher.run_description import Experiment, ParamGrid, RunDescription, short_names
from marl_sf.plot import main as plot_main

TRAIN = ("python -m marl_sf.train --env=mpe_simple_spread --num_workers=0 --num_envs=2 --batch_size=150 "
         "--train_for_env_steps=300 --device=cpu --progress_bar=False --save_plots=False")  # fmt: skip

GRID_MODULE = f"""
from marl_sf.plot import main as plot_main
from marl_sf.launcher.run_description import Experiment, ParamGrid, RunDescription

_params = ParamGrid([("seed", [0, 1]), ("learning_rate", [0.0003, 0.001]), ("gae_lambda", [0.9, 0.95])])
_experiments = [Experiment("spread", "{TRAIN}", _params.generate_params(randomize=False))]
RUN_DESCRIPTION = RunDescription("spread_grid", experiments=_experiments)
"""

# the shape of Sample Factory's sf_examples/*/experiments/*.py, imports as Sample Factory writes them
SF_MODULE = f"""
from sample_factory.launcher.run_description import Experiment, ParamGrid, RunDescription

_params = ParamGrid(
    [
        ("seed", [0, 1111]),
        ("env", ["mpe_simple_spread"]),
    ]
)

_experiments = [
    Experiment(
        "sf_shaped",
        "{TRAIN.replace("--env=mpe_simple_spread ", "")}",
        _params.generate_params(randomize=False),
    ),
]


RUN_DESCRIPTION = RunDescription("sf_shaped", experiments=_experiments)
"""


@pytest.fixture
def run_module(tmp_path, monkeypatch):
    """``run_module(name, text)`` writes an importable run module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))

    def write(name: str, text: str) -> str:
        (tmp_path / f"{name}.py").write_text(text)
        return name

    return write


def _summary(train_dir: Path, run: str) -> list[dict]:
    return json.loads((train_dir / run / "summary.json").read_text())["experiments"]


@pytest.mark.slow
def test_a_grid_of_2x2_configurations_and_2_seeds_runs_on_local_processes(tmp_path, run_module, capsys):
    module = run_module("grid_run", GRID_MODULE)
    train_dir = tmp_path / "td"
    argv = [f"--run={module}", "--backend=processes", "--max_parallel=2", f"--train_dir={train_dir}",
            "--pause_between=0"]  # fmt: skip
    assert main(argv) == 0
    results = _summary(train_dir, "spread_grid")
    assert len(results) == 8 and all(r["returncode"] == 0 for r in results)
    names = {r["name"] for r in results}
    assert "00_spread_see_0_l.rat_0.0003_g.lam_0.9" in names
    for r in results:  # each experiment trained in its own folder and left a checkpoint
        assert list((train_dir / "spread_grid" / "spread" / r["name"]).glob("checkpoint_p0/*.pth"))
        assert Path(r["log"]).read_text()
    assert "8 experiments, 0 failed" in capsys.readouterr().out
    # one command aggregates the sweep: 4 configurations of 2 seeds, IQM with intervals, profiles, numbers in JSON
    assert plot_main([f"--sweep={train_dir / 'spread_grid'}"]) == 0
    data = json.loads((train_dir / "spread_grid" / "plots" / "aggregate.json").read_text())
    assert len(data["configurations"]) == 4
    for config in data["configurations"]:
        assert sorted(config["seeds"]) == [0, 1] and "learning_rate=" in config["label"]
        low, high = config["iqm_ci95"]
        assert low <= config["iqm"] <= high
    for name in ("aggregate_curves", "aggregate_scores", "performance_profile"):
        assert (train_dir / "spread_grid" / "plots" / f"{name}.png").stat().st_size > 0


@pytest.mark.slow
def test_the_ray_backend_runs_the_experiments_as_ray_tasks(tmp_path, run_module):
    pytest.importorskip("ray")
    text = GRID_MODULE.replace('("learning_rate", [0.0003, 0.001]), ("gae_lambda", [0.9, 0.95])', "")
    module = run_module("ray_run", text)
    train_dir = tmp_path / "td"
    assert main([f"--run={module}", "--backend=ray", f"--train_dir={train_dir}", "--pause_between=0"]) == 0
    results = _summary(train_dir, "spread_grid")
    assert [r["name"] for r in results] == ["00_spread_see_0", "01_spread_see_1"]
    assert all(r["returncode"] == 0 for r in results)
    assert all(list((train_dir / "spread_grid" / "spread" / r["name"]).glob("checkpoint_p0/*.pth")) for r in results)


@pytest.mark.slow
def test_a_failing_experiment_is_reported_and_the_others_finish(tmp_path, run_module):
    text = GRID_MODULE.replace('("learning_rate", [0.0003, 0.001]), ("gae_lambda", [0.9, 0.95])',
                               '("learning_rate", ["not_a_number", 0.001])')  # fmt: skip
    text = text.replace('("seed", [0, 1]), ', "").replace(
        "_experiments = [", '_experiments = [Experiment("missing", "no_such_program_here --x=1"), '
    )
    module = run_module("failing_run", text)
    train_dir = tmp_path / "td"
    assert main([f"--run={module}", f"--train_dir={train_dir}", "--max_parallel=2", "--pause_between=0"]) == 1
    missing, failed, done = _summary(train_dir, "spread_grid")
    assert missing["returncode"] == 127 and "could not start" in Path(missing["log"]).read_text()
    assert failed["returncode"] != 0 and "learning_rate" in Path(failed["log"]).read_text()
    assert done["returncode"] == 0


@pytest.mark.slow
def test_a_sample_factory_run_module_runs_after_the_sed(tmp_path, run_module):
    module = run_module("sf_run", SF_MODULE.replace("sample_factory", "marl_sf"))
    train_dir = tmp_path / "td"
    assert main([f"--run={module}", f"--train_dir={train_dir}", "--max_parallel=2", "--pause_between=0"]) == 0
    results = _summary(train_dir, "sf_shaped")
    assert [r["name"] for r in results] == ["00_sf_shaped_see_0_env_mpe_simple_spread",
                                            "01_sf_shaped_see_1111_env_mpe_simple_spread"]  # fmt: skip
    config = json.loads((train_dir / "sf_shaped" / "sf_shaped" / results[1]["name"] / "config.json").read_text())
    assert config["seed"] == 1111 and config["env"] == "mpe_simple_spread"


def test_slurm_scripts_hold_each_command_and_are_submitted_with_sbatch(tmp_path, run_module, monkeypatch):
    module = run_module("slurm_run", GRID_MODULE)
    workdir = tmp_path / "jobs"
    argv = [f"--run={module}", "--backend=slurm", f"--train_dir={tmp_path / 'td'}", f"--slurm_workdir={workdir}",
            "--slurm_partition=gpu", "--slurm_timeout=2:00:00", "--pause_between=0"]  # fmt: skip
    assert main([*argv, "--slurm_print_only=True"]) == 0
    scripts = sorted(workdir.glob("sbatch_*.sh"))
    assert len(scripts) == 8
    text = scripts[0].read_text()
    assert text.startswith("#!/bin/bash\n") and "#SBATCH --partition=gpu" in text and "#SBATCH --time=2:00:00" in text
    command = text.strip().splitlines()[-1]
    assert command.startswith(sys.executable) and "--seed=0" in command and "--experiment=00_spread_see_0" in command
    assert not (workdir / "scancel.sh").exists()  # nothing was submitted
    # no Slurm here: an sbatch on the PATH that records what it is given and answers a job id, as sbatch does
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "submitted"}\necho 4242\n')
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(argv) == 0
    submitted = (tmp_path / "submitted").read_text().splitlines()
    assert len(submitted) == 8 and all(line.startswith("--parsable ") for line in submitted)
    assert (workdir / "scancel.sh").read_text().startswith("scancel 4242 4242")


def test_without_sbatch_the_slurm_backend_says_how_to_write_the_scripts_only(tmp_path, run_module, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    module = run_module("no_slurm", GRID_MODULE)
    assert main([f"--run={module}", "--backend=slurm", f"--slurm_workdir={tmp_path / 'jobs'}"]) == 1


def test_experiment_names_come_from_their_parameters():
    assert short_names(["learning_rate", "seed", "lr_schedule", "lr_scale"]) == {
        "learning_rate": "l.rat", "seed": "see", "lr_schedule": "l.sch", "lr_scale": "l.sca"}  # fmt: skip
    grid = ParamGrid([(("learning_rate", "batch_size"), [(0.001, 512), (0.0003, 1024)]), ("seed", [0])])
    run = RunDescription("r", [Experiment("e", "python -m marl_sf.train --env=x", grid.generate_params())])
    specs = list(run.generate_experiments("td"))
    assert [s.name for s in specs] == ["00_e_l.rat_0.001_b.siz_512_see_0", "01_e_l.rat_0.0003_b.siz_1024_see_0"]
    assert specs[0].argv[0] == sys.executable and specs[0].argv[-1] == f"--train_dir={Path('td') / 'r' / 'e'}"
    assert "--batch_size=512" in specs[0].argv
    with pytest.raises(ValueError, match="both named"):
        list(RunDescription("r", [Experiment("e", "python x"), Experiment("e", "python y")]).generate_experiments("t"))
