# Both targets build .venv and install what they need, so they work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the main job on the embedded default (SQLite, endotrial.db here): build the synthetic
## trial through the services, read its dashboard as the demo's monitor (SYNTHETIC account),
## verify its audit trail, write its analysis report (report/; in Chinese: report/zh/), show the
## protocol-driven engines, and say how to serve the web pages on it (endotrial serve)
run: $(STAMP)
	$(BIN)/endotrial demo --replace
	ENDOTRIAL_PASSWORD=demo-monitor-pw $(BIN)/endotrial dashboard --user monitor.zhao
	$(BIN)/endotrial audit verify
	$(BIN)/endotrial report --out report
	$(BIN)/endotrial report --out report/zh --lang zh
	$(BIN)/endotrial db status
	$(BIN)/endotrial protocol show nct07176143
	$(BIN)/endotrial screen examples/candidates.csv
	$(BIN)/endotrial screen examples/candidates.csv --out screening-results.csv --force
	$(BIN)/endotrial schedule --arm hbmsc --cycle-start 2026-01-05
	$(BIN)/endotrial dose --weight-kg 58 --viability-pct 92
	@echo "web pages and REST API: $(BIN)/endotrial serve, then open http://127.0.0.1:8000/ (docs/web.md)"
	@echo "  demo sign-ins (SYNTHETIC): coord.li / demo-coordinator-pw, monitor.zhao / demo-monitor-pw,"
	@echo "  pi.chen / demo-investigator-pw, ir.wang / demo-radiologist-pw, embryo.huang / demo-embryologist-pw"

## test: lint, type-check, architecture contract and the whole pytest suite
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -n auto --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/bench_screening.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
