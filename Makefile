# sglang_gw — two commands: `make serve` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTO_OUT := sglang_gw/proto/sglang_scheduler_pb2.py
TOKENIZERS := .cache/models/.built

.PHONY: all install proto tokenizers serve lint test soak bench bench-smg clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

$(PROTO_OUT): $(STAMP) protos/*.proto scripts/gen_proto.py
	$(PY) scripts/gen_proto.py

proto: $(PROTO_OUT)

$(TOKENIZERS): $(STAMP) scripts/fetch_tokenizers.py
	$(PY) scripts/fetch_tokenizers.py
	touch $@

tokenizers: $(TOKENIZERS)

serve: proto tokenizers
	$(PY) -m sglang_gw launch $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sglang_gw tests scripts examples

test: proto tokenizers lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Ten minutes of mixed traffic and worker faults, then no leaks and bounded memory
# (docs/testing.md). Not part of `make test`; ARGS="--minutes 2" for a shorter one.
soak: proto tokenizers
	$(PY) scripts/soak.py $(ARGS)

# The benchmark uses smg (and py-spy for --py-spy profiles) from .cache/smg-venv when present.
SMG_VENV := .cache/smg-venv

bench: proto tokenizers
	$(PY) scripts/bench.py $(ARGS)

# The Rust peer gateway, in its own venv so it never touches the project's packages.
bench-smg:
	$(PYTHON) -m venv $(SMG_VENV)
	$(SMG_VENV)/bin/python -m pip install -q smg==1.13.0 py-spy

clean:
	rm -rf $(VENV) .cache sglang_gw/proto/*_pb2*.py sglang_gw/proto/*_pb2*.pyi
