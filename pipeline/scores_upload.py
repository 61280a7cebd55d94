"""Put a run's scores CSV at ``scores/<run_id>.csv``, where its arrival triggers ingest.

Standard library and boto3 only: the failure path (pipeline.failed_run) uses it when the
notebook's packages could not be installed.
"""

from __future__ import annotations

import io
from typing import Any

from pipeline import scores_csv
from pipeline.layout import scores_key


def upload_scores(s3: Any, bucket: str, run_id: str, rows: list[scores_csv.ScoreRow]) -> str:
    buffer = io.StringIO()
    scores_csv.write_rows(buffer, rows)
    key = scores_key(run_id)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue().encode(), ContentType="text/csv")
    return key
