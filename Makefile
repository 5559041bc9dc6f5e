# Two commands do all the set-up on a fresh Linux machine with Python 3.11:
#   make run   -- create .venv, install, start the daemon on the embedded default
#   make test  -- create .venv, install the test extras, run the whole suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
ARGS ?=

.PHONY: run test lint typecheck bench clean system-deps

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

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check daemon tray integrations tests bench
	$(MAKE) typecheck

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# mypy cannot follow setuptools' editable import hook, so it checks a regular
# install of the package (the same `pximse` namespace pytest and ruff see).
typecheck: $(VENV)/.installed-test
	rm -rf build/typecheck
	$(PIP) install -q --no-deps --no-build-isolation --target build/typecheck . 2>/dev/null
	cd build/typecheck && ../../$(BIN)/mypy -p pximse --config-file ../../pyproject.toml

# What the tests need from the system (Debian/Ubuntu): CJK fonts to render the
# OCR tests' text; Chromium (and its driver) for the search page's browser
# tests, which Playwright drives at /usr/bin/chromium; exiftool (which writes XMP
# sidecars) and exiv2 (which reads them back in the tests, as digiKam does);
# Xvfb and trayer (an X server and a system tray for the tray icon's tests),
# Tk (the tray's status window) and desktop-file-validate (autostart entries);
# dbus (dbus-run-session: a private session bus for the StatusNotifier tray
# tests) and xfce4-panel (a real panel that hosts StatusNotifierItems).
# Installed only when missing.
system-deps:
	@if command -v fc-list >/dev/null && fc-list | grep -qi "Noto Sans CJK"; then \
		echo "fonts-noto-cjk: present"; \
	elif command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; \
	else \
		echo "install the Noto CJK fonts (fonts-noto-cjk) for the OCR tests"; \
	fi
	@if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null; then \
		echo "chromium: present"; \
	elif command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "install Chromium at /usr/bin/chromium for the browser tests"; \
	fi
	@if command -v exiftool >/dev/null && command -v exiv2 >/dev/null; then \
		echo "exiftool, exiv2: present"; \
	elif command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl exiv2; \
	else \
		echo "install exiftool and exiv2 for the XMP sidecar tests"; \
	fi
	@if command -v Xvfb >/dev/null && command -v trayer >/dev/null \
			&& command -v desktop-file-validate >/dev/null \
			&& $(PYTHON) -c "import tkinter" 2>/dev/null; then \
		echo "xvfb, trayer, tk, desktop-file-utils: present"; \
	elif command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb trayer python3-tk desktop-file-utils; \
	else \
		echo "install Xvfb, trayer, Tk for Python and desktop-file-utils for the tray tests"; \
	fi
	@if command -v dbus-run-session >/dev/null && command -v xfce4-panel >/dev/null; then \
		echo "dbus-run-session, xfce4-panel: present"; \
	elif command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends dbus xfce4-panel; \
	else \
		echo "install dbus (dbus-run-session) and xfce4-panel for the StatusNotifier tray tests"; \
	fi
