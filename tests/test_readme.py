"""README.md: short, its quick commands run as written after its set-up, its figures are docs/results.md's.

Blocks marked ``<!-- readme-test: quick -->`` run line by line (bash) or as a script (python) in a fresh folder
that sees the checkout's ``examples/`` and ``.venv`` (the set-up: ``make setup``), with the venv first on PATH.
The results tables' ``python -m marl_sf.train`` commands, too long to run here, are started with
``--train_for_seconds=0``: their env builds and their options parse.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes and clusters, or a subprocess per command

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MARKER = "<!-- readme-test: quick -->"


def quick_blocks() -> list[tuple[str, str]]:
    """``[(language, code)]`` of the fenced blocks right after the marker."""
    return re.findall(re.escape(MARKER) + r"\n```(\w+)\n(.*?)\n```", README, re.S)


def _commands(code: str) -> list[str]:
    return [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def fresh_dir(tmp_path_factory) -> Path:
    """A folder where the README's commands run: ``examples`` and ``.venv`` of the checkout, nothing else."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout: run `make setup` (the README's set-up) first")
    where = tmp_path_factory.mktemp("fresh")
    for name in ("examples", ".venv"):
        (where / name).symlink_to(ROOT / name)
    return where


def _env() -> dict[str, str]:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def test_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200


def test_quick_blocks_are_marked():
    languages = [lang for lang, _ in quick_blocks()]
    assert languages.count("bash") >= 2 and "python" in languages


def _run_block(lang: str, code: str, where: Path, index: int) -> None:
    """One quick block: a python block as a script, a bash block line by line, in order."""
    if lang == "python":
        script = where / f"readme_example_{index}.py"
        script.write_text(code)
        _run([str(ROOT / ".venv" / "bin" / "python"), script.name], where)
        return
    for command in _commands(code):
        _run(["bash", "-euo", "pipefail", "-c", command], where)


def test_quick_commands_run_as_written(fresh_dir):
    # the blocks are independent (each trains its own experiment): they run side by side, each in its order
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(_run_block, lang, code, fresh_dir, i) for i, (lang, code) in enumerate(quick_blocks())]
        for future in done:
            future.result()
    assert (fresh_dir / "train_dir" / "spread" / "eval" / "replay.mp4").stat().st_size > 10_000
    assert (fresh_dir / "train_dir" / "spread" / "eval" / "report.html").exists()
    assert (fresh_dir / "train_dir" / "spread" / "plots" / "episode_return.png").exists()
    assert (fresh_dir / "train_dir" / "my_encoder" / "config.json").exists()
    # Sample Factory's custom-env template scripts (examples/), trained and evaluated as the README runs them
    assert (fresh_dir / "train_dir" / "cue" / "eval" / "report.json").exists()


def test_tensorboard_command_starts(fresh_dir):
    command = next(line for line in README.splitlines() if line.startswith("tensorboard --logdir"))
    args = command.split("#")[0].split()
    proc = subprocess.Popen(
        args, cwd=fresh_dir, env=_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        deadline, seen = time.time() + 60, ""
        while time.time() < deadline and "http://" not in seen and proc.poll() is None:
            seen += proc.stderr.readline()
        if "already in use" in seen:
            pytest.skip(f"tensorboard's port is taken on this machine: {seen.strip()[-200:]}")
        assert "TensorBoard" in seen and "http://" in seen, seen[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_results_table_train_commands_build_their_runs(tmp_path):
    """Each results-table command's options parse and its run builds (in this process: ``python -m marl_sf.train``
    is ``parse_args`` + ``Trainer``; the quick commands above check the command line itself)."""
    from marl_sf.train import Trainer, parse_args

    commands = re.findall(r"`python -m marl_sf\.train ([^`]*)`", README.split("## Results", 1)[1])
    assert len(commands) >= 3
    for command in commands:
        argv = [*command.split(), f"--train_dir={tmp_path}", "--experiment=readme_dry_run", "--num_envs=4",
                "--num_workers=0", "--restart_behavior=overwrite", "--device=cpu"]  # fmt: skip
        Trainer(parse_args(argv)).close()


def test_results_figures_are_those_of_docs_results():
    results = (ROOT / "docs" / "results.md").read_text()
    section = README.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| run |")]
    assert len(rows) >= 6
    for row in rows:
        for cell in row.strip("|").split("|")[1:]:
            for figure in re.findall(r"[-+]?\d+(?:[.,]\d+)*(?:%|M|k)?", cell):
                assert figure in results, f"README figure {figure} ({row[:60]}...) is not in docs/results.md"
