"""discover_corpus against moto's S3: pairing, missing and orphan references, ignored files."""

from __future__ import annotations

import dataclasses

import boto3
import pytest

from pipeline.errors import CorpusError
from pipeline.transcribe import CorpusItem, discover_corpus


@pytest.fixture
def s3(in_process_aws: None):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="media")
    return client


def put(s3, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket="media", Key=key, Body=b"x")


def test_pairs_audio_with_references(s3) -> None:
    put(
        s3,
        "corpus/clip01.wav",
        "corpus/clip01.txt",
        "corpus/clip02.MP3",  # no reference; upper-case extension
        "corpus/sub/x.flac",
        "corpus/sub/x.txt",
        "corpus/a.wav",
        "corpus/a.mp3",
        "corpus/a.txt",
        "corpus/v.webm",
        "corpus/v.txt",
        "corpus/m.mp4",
        "corpus/o.ogg",
        "corpus/orphan.txt",
        "corpus/notes.md",
        "corpus/README",
        "corpus/folder/",  # a console-made folder marker, not a file
        "corpus-old/y.wav",  # a sibling prefix, not part of the corpus
        "elsewhere/z.wav",
    )
    corpus = discover_corpus(s3, "media", "corpus")

    assert corpus.bucket == "media"
    assert corpus.prefix == "corpus/"
    assert [dataclasses.replace(item, size=None) for item in corpus.items] == [
        CorpusItem("a.mp3", "a", "corpus/a.mp3", "corpus/a.txt", "mp3"),
        CorpusItem("a.wav", "a", "corpus/a.wav", "corpus/a.txt", "wav"),
        CorpusItem("clip01.wav", "clip01", "corpus/clip01.wav", "corpus/clip01.txt", "wav"),
        CorpusItem("clip02.MP3", "clip02", "corpus/clip02.MP3", None, "mp3"),
        CorpusItem("m.mp4", "m", "corpus/m.mp4", None, "mp4"),
        CorpusItem("o.ogg", "o", "corpus/o.ogg", None, "ogg"),
        CorpusItem("sub/x.flac", "sub/x", "corpus/sub/x.flac", "corpus/sub/x.txt", "flac"),
        CorpusItem("v.webm", "v", "corpus/v.webm", "corpus/v.txt", "webm"),
    ]
    assert all(item.size is not None and item.size > 0 for item in corpus.items)  # S3's Size
    assert corpus.orphan_references == ["orphan.txt"]
    assert corpus.ignored == ["README", "notes.md"]


@pytest.mark.parametrize("prefix", ["corpus", "corpus/", "/corpus/"])
def test_prefix_is_a_folder_however_written(s3, prefix: str) -> None:
    put(s3, "corpus/a.wav", "corpus/a.txt", "corpusx/b.wav")
    corpus = discover_corpus(s3, "media", prefix)
    assert [item.audio_key for item in corpus.items] == ["corpus/a.wav"]


def test_empty_prefix_means_the_whole_bucket(s3) -> None:
    put(s3, "a.wav", "a.txt", "deep/b.ogg")
    corpus = discover_corpus(s3, "media", "")
    assert [(i.file, i.reference_key) for i in corpus.items] == [
        ("a.wav", "a.txt"),
        ("deep/b.ogg", None),
    ]


def test_lower_case_txt_wins_over_upper_case_and_the_other_is_listed(s3) -> None:
    put(s3, "c/a.wav", "c/a.TXT", "c/a.txt")
    corpus = discover_corpus(s3, "media", "c")
    assert corpus.items[0].reference_key == "c/a.txt"
    assert corpus.ignored == ["a.TXT"]


def test_upper_case_txt_is_still_a_reference(s3) -> None:
    put(s3, "c/a.wav", "c/a.TXT")
    assert discover_corpus(s3, "media", "c").items[0].reference_key == "c/a.TXT"


def test_nothing_under_prefix_names_bucket_and_prefix(s3) -> None:
    put(s3, "other/a.wav")
    with pytest.raises(CorpusError) as caught:
        discover_corpus(s3, "media", "corpus/2026")
    assert "media" in str(caught.value)
    assert "corpus/2026" in str(caught.value)


def test_references_only_is_an_error_too(s3) -> None:
    put(s3, "corpus/a.txt", "corpus/b.md")
    with pytest.raises(CorpusError, match=r"no audio .* s3://media/corpus/: 1 references"):
        discover_corpus(s3, "media", "corpus")


def test_lists_every_page(s3) -> None:
    """list_objects_v2 returns 1000 keys per page; the 1001st must not be lost."""
    put(s3, *(f"big/clip{n:04d}.wav" for n in range(1001)))
    corpus = discover_corpus(s3, "media", "big")
    assert len(corpus.items) == 1001
    assert corpus.items[-1].file == "clip1000.wav"
