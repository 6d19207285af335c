# Every target does its own set-up: a fresh machine needs only Python 3.11.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
OUT     ?= out

.PHONY: setup demo test validate bench bench-full clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

setup: $(BIN)/.installed

# Grade an example candidate's 17_self_attention (one realistic bug) and write its report.
# grade exits 1 when a test fails, as it should here; only 2 (grader error) fails the demo.
demo: setup
	@mkdir -p $(OUT)
	$(BIN)/grade exercises/17_self_attention --submission examples/17_self_attention_candidate.py \
		--report $(OUT)/demo-report.html --json $(OUT)/demo-results.json --junit $(OUT)/demo-junit.xml; \
		status=$$?; test $$status -le 1 || exit $$status
	@echo "HTML report: $(OUT)/demo-report.html"

test: setup
	$(BIN)/python -m pytest -q --durations=15

validate: setup
	$(BIN)/grade validate exercises

# Costs side by side in one run (ratios, memory, load): prints a table, writes $(OUT)/bench.json.
# BENCH_ARGS="--baseline DIR" also runs every row in another checkout (before/after in one run).
bench: setup
	$(BIN)/python -m bench.bench --out $(OUT) $(BENCH_ARGS)

# The same, plus the whole catalog graded and validated (takes many minutes).
bench-full: setup
	$(BIN)/python -m bench.bench --out $(OUT) --full --repeat 1 $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
