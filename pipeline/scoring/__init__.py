"""Scoring: text normalization, per-file measures (jiwer) and the micro-averaged corpus WER.

This package imports nothing on purpose. The ingest Lambda imports ``pipeline.scoring.corpus``
(standard library only); importing ``normalize`` or ``metrics`` here would pull jiwer and
whisper-normalizer into the Lambda, which ships with boto3 alone. Import the submodules directly.
"""
