"""The training script in SageMaker's script-mode layout, run as SageMaker runs it.

SageMaker's scikit-learn container unpacks the release's forecast/sourcedir.tar.gz into
/opt/ml/code, puts the ``train`` channel under /opt/ml/input/data/train and runs
``python forecast_train.py --<hyperparameter> <value> ...`` with SM_CHANNEL_TRAIN,
SM_MODEL_DIR and SM_OUTPUT_DATA_DIR set. This test builds the archive with the packaging
code, lays out that tree in a temporary folder and runs the entry point in a new Python
process from the unpacked code, which must import nothing from Spark.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd

from sales_lakehouse.forecast.model import load
from sales_lakehouse_tools.deploy.training_source import (
    ENTRY_POINT,
    MODULES,
    build_training_source,
)
from tests.forecast_frames import synthetic_features

ROOT = Path(__file__).resolve().parents[2]
RUN_AS_SAGEMAKER = """
import runpy, sys
sys.argv = ["forecast_train.py", *sys.argv[1:]]
try:
    runpy.run_path("forecast_train.py", run_name="__main__")
except SystemExit as done:
    if done.code:
        raise
import sales_lakehouse
print("PACKAGE", sales_lakehouse.__file__)
print("SPARK", sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "delta")))
"""


def test_the_archive_holds_the_entry_point_and_the_model_modules(tmp_path: Path) -> None:
    first = build_training_source(ROOT, tmp_path / "a" / "sourcedir.tar.gz")
    again = build_training_source(ROOT, tmp_path / "b" / "sourcedir.tar.gz")
    assert first.read_bytes() == again.read_bytes()  # reproducible: same files, same bytes
    with tarfile.open(first) as archive:
        assert sorted(archive.getnames()) == sorted([ENTRY_POINT, *MODULES])


def test_the_shipped_modules_parse_as_python_3_9() -> None:
    """The container's Python may be older than ours: no match, no parenthesized with."""
    for name in [f"jobs/{ENTRY_POINT}", *(f"src/{m}" for m in MODULES)]:
        ast.parse((ROOT / name).read_text(encoding="utf-8"), name, feature_version=(3, 9))


def test_the_training_script_runs_in_sagemaker_s_layout(tmp_path: Path) -> None:
    opt_ml = tmp_path / "opt" / "ml"
    code = opt_ml / "code"
    code.mkdir(parents=True)
    with tarfile.open(build_training_source(ROOT, tmp_path / "sourcedir.tar.gz")) as archive:
        archive.extractall(code, filter="data")
    channel = opt_ml / "input" / "data" / "train"
    channel.mkdir(parents=True)
    frame = synthetic_features(series=8, days=98, horizon=28)
    half = len(frame) // 2  # two files, as a Spark export may leave
    frame.iloc[:half].to_parquet(channel / "part-00000.parquet", index=False)
    frame.iloc[half:].to_parquet(channel / "part-00001.parquet", index=False)
    (channel / "_SUCCESS").write_bytes(b"")
    model_dir, output = opt_ml / "model", opt_ml / "output" / "data"
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output),
        "OMP_NUM_THREADS": "1",  # a small fit (see tests/forecast_frames.py)
    }
    hyperparameters = ["--max-iter", "15", "--train-weeks", "4", "--backtest-origins", "1"]
    done = subprocess.run(
        [sys.executable, "-c", RUN_AS_SAGEMAKER, *hyperparameters],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"PACKAGE {code / 'sales_lakehouse' / '__init__.py'}" in done.stdout
    assert "SPARK []" in done.stdout
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.joblib", "model.json"]
    model = load(model_dir)
    assert model.params["max_iter"] == 15
    assert model.trained_through == "2025-04-13"  # the 98th day from 2025-01-06
    metrics = pd.read_csv(output / "forecast_metrics.csv")
    assert sorted(metrics["method"].unique()) == [
        "gradient_boosting",
        "last_week_same_day",
        "seasonal_mean_4w",
    ]
    assert len(metrics) == 3 * 29  # 28 horizons and the total, per method
