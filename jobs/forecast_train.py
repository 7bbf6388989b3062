"""The demand model's training entry point: SageMaker script mode, and the same locally.

SageMaker's scikit-learn container runs it from the uploaded source folder
(`forecast/sourcedir.tar.gz` of the release, built by `sales-lakehouse package`) as
`python forecast_train.py --max-iter 300 ...`, with the features under $SM_CHANNEL_TRAIN
and $SM_MODEL_DIR for the model (docs/forecast.md). Locally:
`python jobs/forecast_train.py --train DIR --model-dir DIR [--backtest-origins 4]`.
"""

from __future__ import annotations

import sys

from sales_lakehouse.forecast.train import main

if __name__ == "__main__":
    sys.exit(main())
