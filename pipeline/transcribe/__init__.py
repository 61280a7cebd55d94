"""Amazon Transcribe batch orchestration: find the corpus, run the jobs, read the transcripts.

Runs on the notebook instance; imports only the standard library and boto3.
"""

from pipeline.transcribe.corpus import AUDIO_FORMATS, Corpus, CorpusItem, discover_corpus
from pipeline.transcribe.jobs import JobPlanError, JobSpec, job_name, plan_jobs, transcript_keys
from pipeline.transcribe.orchestrator import ProgressEvent, TranscriptionResult, transcribe_corpus
from pipeline.transcribe.pacing import TokenBucket, transcribe_client_config
from pipeline.transcribe.transcript import (
    Transcript,
    TranscriptError,
    TranscriptItem,
    parse_transcript,
    read_transcript,
)

__all__ = [
    "AUDIO_FORMATS",
    "Corpus",
    "CorpusItem",
    "JobPlanError",
    "JobSpec",
    "ProgressEvent",
    "TokenBucket",
    "Transcript",
    "TranscriptError",
    "TranscriptItem",
    "TranscriptionResult",
    "discover_corpus",
    "job_name",
    "parse_transcript",
    "plan_jobs",
    "read_transcript",
    "transcribe_client_config",
    "transcribe_corpus",
    "transcript_keys",
]
