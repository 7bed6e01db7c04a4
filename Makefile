# slug-pipeline: everything installs into .venv; nothing needs to be installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install demo demo-sd demo-vlm test test-fast test-slurm bench bench-gpu lint dag clean clean-results

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## demo: the demo world end to end -> results/elon_musk/report.html
demo: $(STAMP)
	$(BIN)/snakemake results/elon_musk/report.html --cores $(CORES)

## demo-sd: the demo plus Stable Diffusion through the edited text encoder (diffusion.enabled)
demo-sd: $(STAMP)
	mkdir -p .snakemake && printf 'diffusion: {enabled: true}\n' > .snakemake/demo-sd.yaml
	$(BIN)/snakemake results/elon_musk/report.html --cores $(CORES) --configfile config.yaml .snakemake/demo-sd.yaml

## demo-vlm: the demo plus a vision-language model (a small LLaVA on the demo CLIP's tower) unlearning through the vision tower
demo-vlm: $(STAMP)
	mkdir -p .snakemake && printf 'vlm: {enabled: true}\n' > .snakemake/demo-vlm.yaml
	$(BIN)/snakemake results/elon_musk/report.html --cores $(CORES) --configfile config.yaml .snakemake/demo-vlm.yaml

## test: the test suite (unit tests + real Snakemake runs on a tiny world)
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

## test-fast: the unit tests only (no Snakemake runs), for the edit loop
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit -m "not slow" --durations=5

## test-slurm: the workflow through profiles/slurm on a real one-node SLURM cluster started here
## (as root: installs slurm-wlm and munge when missing, stops the daemons it started; see .ci/slurm/)
test-slurm: $(STAMP)
	PYTHON=$(abspath $(BIN))/python .ci/slurm/test_slurm.sh

## bench: performance ratios (search evaluation, gradient pass, image memory, K concepts; see benchmarks/RESULTS.md)
bench: $(STAMP)
	$(BIN)/python benchmarks/search_eval.py
	$(BIN)/python benchmarks/search_eval.py --arch ViT-B-32-quickgelu --images 120 --objects 50 --repeats 1
	$(BIN)/python benchmarks/grad_pass.py --batch 8 --batches 2
	$(BIN)/python benchmarks/image_store.py
	$(BIN)/python benchmarks/concept_scaling.py --ks 1,2,4,8 --workdir /tmp/slug-bench-scaling

## bench-gpu: the gradient-pass and search benchmarks on the first visible GPU at real batch sizes
bench-gpu: $(STAMP)
	PYTHON=$(abspath $(BIN))/python benchmarks/gpu.sh

## lint: Snakemake's linter, ruff (pyproject.toml) and snakefmt's check of Snakefile and rules/
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules/

dag: $(STAMP)
	$(BIN)/snakemake results/elon_musk/report.html --dag

clean-results:
	rm -rf results .snakemake

clean: clean-results
	rm -rf data/world data/laion
