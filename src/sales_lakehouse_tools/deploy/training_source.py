"""The demand model's training source for SageMaker: ``forecast/sourcedir.tar.gz``.

SageMaker's script mode (hyperparameters ``sagemaker_program`` and
``sagemaker_submit_directory``) downloads this archive into the scikit-learn container,
unpacks it and runs ``python forecast_train.py <hyperparameters>`` there. It holds the
entry point (jobs/forecast_train.py) at its root and the modules the model needs
(:data:`MODULES`: pandas, numpy and scikit-learn only, all in the container), under their
package path, so the same code runs locally and on SageMaker. No requirements.txt: the
container would pip-install it, which a job without internet access cannot.

The archive's bytes depend only on the files (sorted entries, fixed times and modes).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

ENTRY_POINT = "forecast_train.py"
ARCHIVE = "forecast/sourcedir.tar.gz"
# The package modules the training script imports (src/sales_lakehouse/...).
MODULES = (
    "sales_lakehouse/__init__.py",
    "sales_lakehouse/forecast/__init__.py",
    "sales_lakehouse/forecast/params.py",
    "sales_lakehouse/forecast/horizons.py",
    "sales_lakehouse/forecast/model.py",
    "sales_lakehouse/forecast/metrics.py",
    "sales_lakehouse/forecast/backtest.py",
    "sales_lakehouse/forecast/train.py",
)


def source_files(root: Path) -> dict[str, Path]:
    """Archive name -> file in the checkout, entry point first."""
    files = {ENTRY_POINT: root / "jobs" / ENTRY_POINT}
    files.update({name: root / "src" / name for name in MODULES})
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"training source files missing: {', '.join(missing)}")
    return files


def build_training_source(root: Path, target: Path) -> Path:
    """Write the archive to ``target`` (its folder is created); returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, path in sorted(source_files(root).items()):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(buffer.getvalue())
    return target
