# Two commands do all the set-up on a fresh Linux machine with Python 3.11:
#   make run   -- create .venv, install what the default configuration runs (the
#                 WD14 tagger, CLIP and OCR on onnxruntime: no PyTorch), start the
#                 daemon, which downloads the models' weights on its first start
#   make test  -- create .venv, install the test extras and the system packages
#                 the tests need (where it can), run the whole suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
ARGS ?=

.PHONY: run test test-fast lint layers typecheck bench clean system-deps milvus-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/pximse serve $(ARGS)

# The system packages first, where they can be had: a missing one skips the
# tests that need it, never fails them.
test: $(VENV)/.installed-test milvus-server
	-@$(MAKE) --no-print-directory system-deps
	$(BIN)/python -m pytest -n 2 $(ARGS)

# The suite without the tests marked slow (real daemons, browsers, model builds,
# large libraries; each over about 5 s): some 1,400 tests in about 140 s of CPU.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 -m "not slow" $(ARGS)

# A real Milvus server for the tests (tests/helpers/milvus_server.py starts it): PyPI's
# `milvus` package ships Milvus 2.3's standalone binary. Its own venv, since the
# package's dependencies are old (setuptools<70).
MILVUS_VENV := build/milvus-server
$(MILVUS_VENV)/.installed:
	$(PYTHON) -m venv $(MILVUS_VENV)
	$(MILVUS_VENV)/bin/python -m pip install -q "setuptools<70" "milvus==2.3.5"
	touch $@

milvus-server: $(MILVUS_VENV)/.installed

lint: $(VENV)/.installed-test
	$(BIN)/ruff check daemon tray integrations tests bench
	$(MAKE) layers
	$(MAKE) typecheck

# The one-way layers ([tool.importlinter] in pyproject.toml). import-linter reads
# the package as it is installed, tray/ and integrations/ inside pximse/.
layers: $(VENV)/.installed-test
	rm -rf build/layers && mkdir -p build/layers
	cp -r daemon build/layers/pximse
	cp -r tray build/layers/pximse/tray
	cp -r integrations build/layers/pximse/integrations
	PYTHONPATH=build/layers $(BIN)/lint-imports --no-cache

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# mypy cannot follow setuptools' editable import hook, so it checks a regular
# install of the package (the same `pximse` namespace pytest and ruff see).
typecheck: $(VENV)/.installed-test
	rm -rf build/typecheck build/lib
	$(PIP) install -q --no-deps --no-build-isolation --target build/typecheck . 2>/dev/null
	cd build/typecheck && ../../$(BIN)/mypy -p pximse --config-file ../../pyproject.toml

# What the tests need from the system (Debian/Ubuntu): CJK fonts to render the
# OCR tests' text; Chromium (and its driver) for the search page's browser
# tests, which Playwright drives at /usr/bin/chromium; exiftool (which writes XMP
# sidecars) and exiv2 (which reads them back in the tests, as digiKam does);
# Xvfb and trayer (an X server and a system tray for the tray icon's tests),
# Tk (the tray's status window) and desktop-file-validate (autostart entries);
# dbus (dbus-run-session: a private session bus for the StatusNotifier tray
# tests) and xfce4-panel (a real panel that hosts StatusNotifierItems; without
# its recommended packages, which are a whole desktop).
# Only what is missing is installed, with apt-get as root or through sudo
# without a password; where that cannot be done (another system, no rights, no
# network) it says what is missing and the tests that need it are skipped.
APT := $(shell if command -v apt-get >/dev/null 2>&1; then \
	if [ "$$(id -u)" = 0 ]; then echo apt-get; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then echo "sudo -n apt-get"; \
	fi; fi)

system-deps:
	@missing=""; \
	if ! (command -v fc-list >/dev/null && fc-list | grep -qi "Noto Sans CJK"); then \
		missing="$$missing fonts-noto-cjk"; fi; \
	if ! [ -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null; then \
		missing="$$missing chromium chromium-driver"; fi; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	command -v exiv2 >/dev/null || missing="$$missing exiv2"; \
	command -v Xvfb >/dev/null || missing="$$missing xvfb"; \
	command -v trayer >/dev/null || missing="$$missing trayer"; \
	command -v desktop-file-validate >/dev/null || missing="$$missing desktop-file-utils"; \
	py=$(BIN)/python; [ -x "$$py" ] || py=$(PYTHON); \
	$$py -c "import tkinter" 2>/dev/null || missing="$$missing python3-tk"; \
	if [ -z "$$missing" ]; then \
		echo "system packages for the tests: all present"; \
	elif [ -n "$(APT)" ]; then \
		echo "installing:$$missing"; \
		$(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $$missing \
			|| echo "could not install$$missing: the tests that need them are skipped"; \
	else \
		echo "missing:$$missing (Debian/Ubuntu: apt-get install$$missing as root);" \
			"the tests that need them are skipped"; \
	fi
	@missing=""; \
	command -v dbus-run-session >/dev/null || missing="$$missing dbus"; \
	command -v xfce4-panel >/dev/null || missing="$$missing xfce4-panel"; \
	if [ -z "$$missing" ]; then \
		echo "dbus, xfce4-panel: present"; \
	elif [ -n "$(APT)" ]; then \
		echo "installing:$$missing"; \
		$(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq \
			--no-install-recommends $$missing \
			|| echo "could not install$$missing: the tests that need them are skipped"; \
	else \
		echo "missing:$$missing (Debian/Ubuntu: apt-get install$$missing as root);" \
			"the tests that need them are skipped"; \
	fi
