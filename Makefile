# Convenience aliases for the scripts the README documents.
.PHONY: setup demo test lint format
setup: ; ./scripts/setup
demo: ; ./scripts/demo
test: ; ./scripts/test
lint: setup ; .venv/bin/ruff check .
format: setup ; .venv/bin/ruff check --fix . && .venv/bin/ruff format .
