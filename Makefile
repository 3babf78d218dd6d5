# R1-Zero "aha" kit. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RECIPE ?= recipes/cpu_countdown_tiny.yaml
ARGS ?=
OUTPUT_ROOT ?= outputs
# A CPU-only torch (no multi-GB CUDA download). On a GPU machine: make setup TORCH_SPEC=torch
# On a laptop whose pip would pull CUDA: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# Multi-process launch: make train ACCELERATE_CONFIG=recipes/accelerate/ddp.yaml NPROC=8
# (NPROC counts processes on all machines; a multi-node run adds LAUNCH_ARGS="--machine_rank 1").
# NPROC alone launches with torchrun: the way to run several CPU processes (gloo), which
# `accelerate launch --cpu` does not do (it starts one).
ACCELERATE_CONFIG ?=
NPROC ?=
LAUNCH_ARGS ?=
# make download RECIPE=... LOCAL_DIR=/shared/r1zero: plain folders instead of the HF cache
LOCAL_DIR ?=

export PYTHONUNBUFFERED := 1
export TOKENIZERS_PARALLELISM := false

ifneq ($(ACCELERATE_CONFIG),)
LAUNCH := $(VENV)/bin/accelerate launch --config_file $(ACCELERATE_CONFIG) $(if $(NPROC),--num_processes $(NPROC)) $(LAUNCH_ARGS) -m
else ifneq ($(NPROC),)
LAUNCH := $(VENV)/bin/torchrun --nproc_per_node $(NPROC) $(LAUNCH_ARGS) -m
else
LAUNCH := $(PY) -m
endif

.PHONY: help setup download train tensorboard test test-slow clean bench-aha eval preflight checkpoints export plot

help:
	@echo "make setup        create $(VENV) and install the kit (CPU torch unless TORCH_SPEC says otherwise)"
	@echo "make download     fetch RECIPE's model and dataset into the HF cache (or LOCAL_DIR=...) for offline training"
	@echo "make train        train RECIPE=$(RECIPE) (extra flags: ARGS=\"--max_steps 50\")"
	@echo "make preflight    check RECIPE's template, rewards, data and memory before training (ARGS=\"--samples 16\" samples the model)"
	@echo "make tensorboard  TensorBoard over every run in $(OUTPUT_ROOT)/"
	@echo "make checkpoints  table of a run's checkpoints, best and aha step marked: RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny"
	@echo "make plot         PNG of a run's aha curves, written into the run: RUN=<output_dir>"
	@echo "make export       a checkpoint as a clean HF model folder: CKPT=<run>/checkpoint-N OUT=<folder>"
	@echo "make eval         held-out table: MODELS=\"<base> <run>/checkpoint-100\" [TASK=gsm8k|countdown] [RECIPE=...]"
	@echo "make test         the offline test suite"
	@echo "make bench        benchmarks (bench-rewards: reward speed and math-verify agreement on GSM8K=$(GSM8K); bench-math: the same for MATH answers)"
	@echo "make bench-train  GRPO step time, the kit vs bare TRL, with a step's breakdown and data-path timings"
	@echo "make clean        remove $(OUTPUT_ROOT)/ and caches (keeps $(VENV))"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

setup: $(PY)
	$(PY) -m pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -e ".[dev]"
	@echo "setup done: next, make train"

# Where there is internet (a cluster's login node); then HF_HUB_OFFLINE=1 make train on compute nodes.
download:
	$(PY) -m scripts.download --config $(RECIPE) $(if $(LOCAL_DIR),--local-dir $(LOCAL_DIR)) $(ARGS)

train:
	$(LAUNCH) scripts.train --config $(RECIPE) $(ARGS)

# The checks make train runs first, plus an optional sample of the starting model (ARGS="--samples 16").
preflight:
	$(PY) -m scripts.preflight --config $(RECIPE) $(ARGS)

tensorboard:
	$(VENV)/bin/tensorboard --logdir $(OUTPUT_ROOT) --port $${PORT:-6006}

# Watch and choose: read a run's files (no training, no GPU).
checkpoints:
	@test -n "$(RUN)" || { echo "error: RUN is not set (make checkpoints RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny)"; exit 2; }
	$(PY) -m scripts.checkpoints $(RUN)

plot:
	@test -n "$(RUN)" || { echo "error: RUN is not set (make plot RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny)"; exit 2; }
	$(PY) -m scripts.plot $(RUN)

export:
	@test -n "$(CKPT)" -a -n "$(OUT)" || { echo "error: CKPT and OUT must be set (make export CKPT=<run>/checkpoint-N OUT=<folder>)"; exit 2; }
	$(PY) -m scripts.export $(CKPT) $(OUT)

# Held-out settings come from RECIPE (the default one unless TASK names a task alone, which then
# uses that task's defaults). Extra flags: ARGS="--limit 256 --num_samples 16 --pass_k 1 4 16".
EVAL_RECIPE = $(if $(filter command line environment,$(origin RECIPE)),$(RECIPE),$(if $(TASK),,$(RECIPE)))
eval:
	$(PY) -m scripts.evaluate $(if $(MODELS),--models $(MODELS)) $(if $(TASK),--task $(TASK)) $(if $(EVAL_RECIPE),--recipe $(EVAL_RECIPE)) $(ARGS)

# pytest exits 5 when it collects nothing: that is a failure, not a pass.
test:
	@$(PY) -m pytest -q; code=$$?; if [ $$code -eq 5 ]; then echo "no tests were collected"; fi; exit $$code

# The CPU demo's targets (issues #5/#12), 3 seeds from scratch: about 30 min on 2 quiet cores.
bench-aha:
	$(PY) -m scripts.bench_aha --recipe $(RECIPE) $(if $(SEEDS),--seeds $(SEEDS))

# One GRPO step on a Qwen2.5-0.5B-shaped random model, HF generate vs vLLM colocate (GPU; ARGS="--tiny" on CPU).
.PHONY: bench-gpu
bench-gpu:
	$(PY) -m scripts.bench_gpu $(ARGS)

# `make bench` runs every quick benchmark; each part is a prerequisite, so more can be added.
.PHONY: bench bench-rewards bench-train
GSM8K ?= ../shared/data/gsm8k/test.jsonl
bench: bench-rewards bench-math bench-train

# Reward speed vs trl.rewards.accuracy_reward and math-verify, agreement, hostile input: ~2 min.
bench-rewards:
	$(PY) -m scripts.bench_rewards $(GSM8K) $(ARGS)

# math_accuracy_reward vs plain math-verify: agreement on every fixture answer, speed on the fast-path
# forms (target >= 20x), hostile input: ~15 s.
.PHONY: bench-math
MATH_FIXTURE ?= tests/fixtures/math_small.jsonl
bench-math:
	$(PY) -m scripts.bench_math $(MATH_FIXTURE)

# GRPO step time, the kit's path vs bare TRL (interleaved runs), a step's breakdown, data-path
# timings: ~5 min on 2 quiet cores. More: BENCH_TRAIN_ARGS="--threads 1 --variant cap96=\"--max_completion_length 96\""
GSM8K_TRAIN ?= ../shared/data/gsm8k/train.jsonl
BENCH_TRAIN_ARGS ?=
bench-train:
	$(PY) -m scripts.bench_train --recipe $(RECIPE) $(if $(wildcard $(GSM8K_TRAIN)),--gsm8k $(GSM8K_TRAIN)) $(BENCH_TRAIN_ARGS)

test-slow:
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(OUTPUT_ROOT) .pytest_cache build *.egg-info
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
