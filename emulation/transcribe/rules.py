"""StartTranscriptionJob's rules between parameters, and what the twin's engine cannot honour.

First the rules the API reference states ("If you include X, you must also include Y"), refused
as AWS refuses them: BadRequestException, which the service model documents for "when you combine
parameters in a way that isn't supported". AWS's message texts for these are not public; the
wording here is the twin's.

Then the twin's own refusals, also BadRequestException at start, each saying it is the twin:
language identification (the engine is Whisper tiny.en, English-only, with no language detection
of its own), non-English languages, and features whose output the twin does not produce
(alternatives, channel identification, custom vocabularies and models, redaction, subtitles,
KMS output encryption). Refusing at start, rather than failing the job, names the parameter at
the call, creates no job that looks as if AWS had judged the media, and happens before any work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulation.transcribe.exceptions import BadRequestException

# Twin wording throughout: AWS's texts for these refusals are not documented.
LANGUAGE_CHOICE = (
    "You must include exactly one of LanguageCode, IdentifyLanguage or IdentifyMultipleLanguages."
)
LANGUAGE_OPTIONS_ALONE = (
    "LanguageOptions can only be used with IdentifyLanguage or IdentifyMultipleLanguages."
)
NEEDS = "If you include {present}, you must also include {missing}."
SPEAKERS_AND_CHANNELS = "You can't set both ShowSpeakerLabels and ChannelIdentification."
ENGLISH_ONLY = (
    "This twin's engine is English-only: {what} is not supported. AWS would accept this request; "
    "use an English LanguageCode (en-US, en-GB, ...) locally (see docs/fidelity.md)."
)
NOT_MODELLED = (
    "This twin's Transcribe does not produce {what}. AWS would accept this request; "
    "leave {parameter} out locally (see docs/fidelity.md)."
)


def check_start(request: Mapping[str, Any]) -> None:
    """Refuse a valid-looking StartTranscriptionJob the way AWS does, then the way the twin must."""
    check_documented_rules(request)
    check_twin_support(request)


def check_documented_rules(request: Mapping[str, Any]) -> None:
    settings = request.get("Settings") or {}
    identify = bool(request.get("IdentifyLanguage")) or bool(
        request.get("IdentifyMultipleLanguages")
    )
    chosen = [
        bool(request.get("LanguageCode")),
        bool(request.get("IdentifyLanguage")),
        bool(request.get("IdentifyMultipleLanguages")),
    ]
    if sum(chosen) != 1:
        raise BadRequestException(LANGUAGE_CHOICE)
    if request.get("LanguageOptions") and not identify:
        raise BadRequestException(LANGUAGE_OPTIONS_ALONE)
    pairs = (
        ("ShowSpeakerLabels", "MaxSpeakerLabels"),
        ("ShowAlternatives", "MaxAlternatives"),
        ("VocabularyFilterName", "VocabularyFilterMethod"),
    )
    for flag, companion in pairs:
        if settings.get(flag) and settings.get(companion) is None:
            raise BadRequestException(NEEDS.format(present=flag, missing=companion))
        if settings.get(companion) is not None and not settings.get(flag):
            raise BadRequestException(NEEDS.format(present=companion, missing=f"{flag}=true"))
    if settings.get("ShowSpeakerLabels") and settings.get("ChannelIdentification"):
        raise BadRequestException(SPEAKERS_AND_CHANNELS)
    execution = request.get("JobExecutionSettings")
    if execution is not None:
        for member in ("AllowDeferredExecution", "DataAccessRoleArn"):
            if execution.get(member) is None:
                raise BadRequestException(
                    NEEDS.format(present="JobExecutionSettings", missing=member)
                )


def check_twin_support(request: Mapping[str, Any]) -> None:
    if request.get("IdentifyLanguage"):
        raise BadRequestException(ENGLISH_ONLY.format(what="IdentifyLanguage"))
    if request.get("IdentifyMultipleLanguages"):
        raise BadRequestException(ENGLISH_ONLY.format(what="IdentifyMultipleLanguages"))
    language = request.get("LanguageCode") or ""
    if not language.startswith("en-"):
        raise BadRequestException(ENGLISH_ONLY.format(what=f"LanguageCode {language}"))
    for parameter, what in _unsupported(request):
        raise BadRequestException(NOT_MODELLED.format(what=what, parameter=parameter))


def _unsupported(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    settings = request.get("Settings") or {}
    found = [
        (f"Settings.{name}", what)
        for name, what in (
            ("ShowAlternatives", "alternative transcriptions"),
            ("ChannelIdentification", "per-channel transcripts"),
            ("VocabularyName", "transcripts shaped by a custom vocabulary"),
            ("VocabularyFilterName", "vocabulary filtering"),
        )
        if settings.get(name)
    ]
    top = (
        ("ModelSettings", "transcripts from a custom language model"),
        ("ContentRedaction", "redacted transcripts"),
        ("OutputEncryptionKMSKeyId", "KMS-encrypted output"),
    )
    found += [(name, what) for name, what in top if request.get(name)]
    if (request.get("Subtitles") or {}).get("Formats"):
        found.append(("Subtitles", "subtitle files"))
    return found
