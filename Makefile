# tongban — one node of the 跨省通办 platform. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TONGBAN_DATA_DIR ?= $(CURDIR)/var
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install dev run init serve worker test fonts test-slow lint format migrations-check openapi messages clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## Create .venv and install tongban

dev: $(VENV)/.dev-installed ## Install tongban with the development tools

init: install ## Migrate and load reference + demo data into $(TONGBAN_DATA_DIR)
	$(BIN)/tongban init --demo

run: init fonts ## Fresh machine → demo node on http://127.0.0.1:8000 with a background worker
	$(BIN)/tongban serve --host 127.0.0.1 --port 8000

serve: install ## Serve an initialised node (web + worker)
	$(BIN)/tongban serve

worker: install ## Run a background worker alone
	$(BIN)/tongban worker

test: dev fonts ## Run the whole suite (TONGBAN_TEST_DATABASE_URL=postgresql://… for PostgreSQL)
	@command -v pdfsig >/dev/null || (apt-get update -qq && apt-get install -y -qq poppler-utils)
	$(BIN)/pytest -m "not slow"

fonts: ## The CJK font printed licences (PDF) use, from Debian's packages when missing
	@test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk)

test-slow: dev ## Run the slow suites (soak, long crash runs, big data)
	$(BIN)/pytest -m slow

lint: dev ## ruff check, ruff format --check, mypy, import contracts
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

format: dev ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

migrations-check: dev ## Fail if models and migrations disagree
	DJANGO_SETTINGS_MODULE=tongban.settings.test $(BIN)/tongban makemigrations --check --dry-run

openapi: dev ## Regenerate the committed OpenAPI schema (src/tongban/api/openapi.json)
	DJANGO_SETTINGS_MODULE=tongban.settings.test $(BIN)/tongban openapi

messages: dev ## Extract and compile translations (needs GNU gettext)
	@command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext)
	cd src/tongban && ../../$(BIN)/tongban makemessages -l zh_Hans --no-obsolete --no-location --no-wrap
	cd src/tongban && ../../$(BIN)/tongban compilemessages -l zh_Hans
	msgfmt --check -o src/tongban/locale_vendor/zh_Hans/LC_MESSAGES/django.mo src/tongban/locale_vendor/zh_Hans/LC_MESSAGES/django.po

clean: ## Remove the virtualenv, demo data and caches
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
