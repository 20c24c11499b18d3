"""eval/report.html: every section of a self-play run's evaluation, rendered by headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from marl_sf.enjoy import enjoy
from marl_sf.tournament import parse_tournament_args, tournament
from marl_sf.train import parse_args, run_rl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TICTACTOE = ("--env=classic_tictactoe", "--opponent_prob=1.0", "--experiment=ttt", "--num_envs=4", "--rollout=16",
             "--batch_size=128", "--num_epochs=1", "--learner_torch_threads=1")  # fmt: skip
# appended to a copy of the page (the page itself has no script): after load, what the browser decoded
PROBE = """<script>
window.addEventListener("load", () => {
  const v = document.querySelector("video");
  const report = (extra) => document.body.setAttribute("data-probe", JSON.stringify({
    images: [...document.images].map((i) => i.naturalWidth), video: v ? [v.readyState, v.videoWidth] : null, extra}));
  if (v && v.readyState < 1) { v.addEventListener("loadedmetadata", () => report(null));
    v.addEventListener("error", () => report("video error " + (v.error && v.error.code))); } else report(null);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'prof'}"]  # fmt: skip
    done = subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A short tictactoe self-play run (plots on, as by default) with a tournament, evaluated with a video:
    ``(exp_dir, page text)``."""
    tmp = tmp_path_factory.mktemp("report")
    base = [f"--train_dir={tmp}", "--device=cpu", "--progress_bar=False", "--num_workers=0", "--seed=0", *TICTACTOE]
    train = [*base, "--policy_mapping=self_play", "--pool_scripted", "random", "--pool_snapshot_every=400"]
    assert run_rl(parse_args([*train, "--train_for_env_steps=1600"])) == 0
    tournament(parse_tournament_args([*base, "--players", "latest", "random", "--games_per_pair=8"]))
    evaluation = [*base, "--max_num_episodes=4", "--save_video", "--video_frames=20"]
    assert enjoy(parse_args(evaluation, evaluation=True)) == 0
    exp_dir = tmp / "ttt"
    return exp_dir, (exp_dir / "eval" / "report.html").read_text()


@pytest.mark.slow
def test_report_has_every_section_and_embeds_its_files(evaluated):
    exp_dir, page = evaluated
    for section in ("config", "results", "video", "curves", "tournaments"):
        assert f'<section id="{section}">' in page, section
    assert 'src="data:video/mp4;base64,' in page and page.count("data:image/png;base64,") >= 5  # curves + heatmap
    assert not re.search(r'src="(?!data:)', page)  # nothing outside the page
    report = json.loads((exp_dir / "eval" / "report.json").read_text())
    lo, hi = report["agents"][0]["return_ci95"]
    assert f"[{lo:.2f}, {hi:.2f}]" in page
    ratings = json.loads((exp_dir / "tournament" / "results.json").read_text())["ratings"]
    assert all(html.escape(name) in page for name in ratings)
    assert "elo" in {p.stem for p in (exp_dir / "plots").glob("*.png")}


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium; "
                    ".ci/run installs it)")  # fmt: skip
def test_chromium_renders_the_table_images_and_video(evaluated, tmp_path):
    exp_dir, page = evaluated
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    rows = re.search(r'<table id="returns">.*?<tbody>(.*?)</tbody>', dom, re.S).group(1).count("<tr>")
    assert rows == 2 + 1 + 1  # two players, one shared policy, the team
    probe = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    assert probe["extra"] is None, probe
    assert len(probe["images"]) >= 5 and min(probe["images"]) > 100  # every PNG decoded
    ready, width = probe["video"]
    assert ready >= 1 and width > 100  # the MP4's metadata decoded: the video element shows the recording
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", (exp_dir / "eval" / "report.html").as_uri())
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200) and pixels.std() > 0.05  # not a blank page
