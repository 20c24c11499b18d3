# Two set-up commands: `make train` (the main job) and `make test` (the test suite).
# Both create or reuse the virtual env in $(VENV) and install what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.marl_sf-installed
EXPERIMENT ?= simple_spread_mappo
TRAIN_ARGS ?=
export SDL_VIDEODRIVER ?= dummy

.PHONY: setup train enjoy test lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch from the local wheel cache first: a bare `torch` would pull the CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,viz,vmas,ray,onnx,openspiel,mamujoco]"
	touch $(STAMP)

train: setup
	$(PY) -m marl_sf.train --env=mpe_simple_spread --experiment=$(EXPERIMENT) --restart_behavior=restart \
		--seed=0 --train_for_seconds=585 $(TRAIN_ARGS)
	$(PY) -m marl_sf.enjoy --env=mpe_simple_spread --experiment=$(EXPERIMENT) --max_num_episodes=100 \
		--eval_deterministic=True --save_video --video_frames=200

enjoy: setup
	$(PY) -m marl_sf.enjoy --env=mpe_simple_spread --experiment=$(EXPERIMENT) --max_num_episodes=100 \
		--eval_deterministic=True --save_video --video_frames=200

test: setup
	$(PY) -m pytest -q --durations=25 tests

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) train_dir .pytest_cache
