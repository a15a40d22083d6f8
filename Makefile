# scapy-fama: two set-up commands, `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test tools bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

# atheris (the fuzz extra) where a wheel exists for this Python and platform (3.11 manylinux:
# yes); elsewhere its tests skip with the reason
$(TSTAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --only-binary=:all: -e '.[test,fuzz]' || \
	  echo "no atheris wheel for this Python/platform: the libFuzzer harness tests will be skipped"
	touch $@

demo: $(STAMP)
	$(PY) scripts/demo.py out/demo

# tshark is the independent dissector of the test suite and nft silences the kernel in the
# real-link tests (kernel mode, fama-lab); install them when apt can.
tools:
	@missing=""; \
	command -v tshark >/dev/null 2>&1 || missing="$$missing tshark"; \
	command -v nft >/dev/null 2>&1 || missing="$$missing nftables"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing with apt-get"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "$$missing missing and apt-get unavailable: their tests will be skipped"; fi; \
	fi

test: $(TSTAMP) tools
	$(PY) -m pytest -q

bench: $(TSTAMP)  # bench_fuzz needs the fuzz extra (atheris, coverage)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
