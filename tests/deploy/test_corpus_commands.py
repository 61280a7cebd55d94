"""``python -m deploy upload-corpus`` and ``run-now``: what a user does after the first deploy.

The checks run on local folders; the commands run against a stack deployed on the twin through
the process environment (AWS_ENDPOINT_URL), as against AWS, and the test reads back the objects
in S3, the starter's invocation and the run's message.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deploy.__main__ import main
from deploy.corpus_upload import CorpusCheckError, check_corpus
from deploy.repairs import repair_stack
from deploy.template import load_template
from emulation.core.build import build_twin
from emulation.core.inspector import Inspector
from emulation.core.twin import Twin
from emulation.e2e.chain import DEFAULT_CORPUS, E2EOptions, deploy_outputs, twin_config
from emulation.e2e.sites import EmbeddedSite
from tests.deploy.conftest import point_boto3_at

if TYPE_CHECKING:
    from tests.deploy.conftest import Captured

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def write(folder: Path, name: str, body: bytes = b"x") -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def test_every_problem_of_a_local_corpus_is_named_before_anything_is_uploaded(
    tmp_path: Path,
) -> None:
    write(tmp_path, "a.wav")  # no reference
    write(tmp_path, "b.txt", b"orphan reference")
    write(tmp_path, "c.aac")  # not a batch format
    write(tmp_path, "c.txt", b"for c")
    write(tmp_path, "d.wav")
    write(tmp_path, "d.txt", b"  \n")  # empty reference
    write(tmp_path, "e.m4a")
    write(tmp_path, "e.txt", b"caf\xe9")  # Latin-1, not UTF-8
    write(tmp_path, "sub/ok.mp3")
    write(tmp_path, "sub/ok.txt", b"fine")

    with pytest.raises(CorpusCheckError) as raised:
        check_corpus(tmp_path)

    assert raised.value.problems == [
        "c.aac: not a format batch Transcribe accepts "
        "(amr, flac, m4a, mp3, mp4, ogg, wav, webm) nor a .txt reference",
        "a.wav: no reference a.txt beside it",
        "b.txt: no audio file with the stem b (amr, flac, m4a, mp3, mp4, ogg, wav, webm)",
        "c.txt: no audio file with the stem c (amr, flac, m4a, mp3, mp4, ogg, wav, webm)",
        "d.txt: empty (WER is undefined without reference words)",
        "e.txt: not UTF-8 (byte 3): unexpected end of data",
    ]
    assert "nothing uploaded" in str(raised.value)


def test_a_good_corpus_is_checked_with_hidden_files_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.WAV")
    write(tmp_path, "a.txt", b"\xef\xbb\xbfwith a byte order mark")
    write(tmp_path, "nested/b.amr")
    write(tmp_path, "nested/b.txt", b"b")
    write(tmp_path, ".DS_Store")
    corpus = check_corpus(tmp_path)
    assert corpus.files == ("a.WAV", "a.txt", "nested/b.amr", "nested/b.txt")
    assert (corpus.audio, corpus.skipped) == (2, (".DS_Store",))


def test_a_folder_without_audio_or_that_is_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusCheckError, match="no audio files"):
        check_corpus(tmp_path)
    with pytest.raises(CorpusCheckError, match="is not a folder"):
        check_corpus(tmp_path / "missing")


# ----------------------------------------------------------------------- against a stack
@pytest.fixture(scope="module")
def chain_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    twin = build_twin(twin_config(E2EOptions(), tmp_path_factory.mktemp("sandbox")))
    twin.start()
    yield twin
    twin.stop()


@pytest.fixture
def aws_env(chain_twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Twin:
    """The process environment pointing boto3 at the twin, as `make twin` prints it."""
    point_boto3_at(chain_twin.env(), monkeypatch)
    return chain_twin


def test_upload_corpus_then_run_now_scores_the_uploaded_corpus(
    aws_env: Twin, tmp_path: Path, reporters: Callable[[], Captured]
) -> None:
    stack = f"cmd-{uuid.uuid4().hex[:6]}"
    outputs, _ = deploy_outputs(EmbeddedSite(aws_env), stack, {"CorpusPrefix": "audio/en/"})
    repair_stack(aws_env, stack, template=load_template())
    topic = outputs["AlertTopicArn"]
    # As on AWS, creating the instance ran OnStart: a first run on the empty corpus, which
    # stops the instance. run-now starts it only once Stopped.
    [created] = _wait_for_messages(aws_env, topic, 1)
    assert created.attributes["status"] == "NO_CORPUS"
    _wait_stopped(aws_env, outputs["NotebookInstanceName"])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for clip in sorted(DEFAULT_CORPUS.glob("clip0[12]*")):
        shutil.copy(clip, corpus)
    s3, bucket = aws_env.client("s3"), outputs["MediaBucketName"]
    s3.put_object(Bucket=bucket, Key="audio/en/stale.wav", Body=b"left from before")
    reporter = reporters()

    assert main(["upload-corpus", "--stack", stack, "--corpus", str(corpus)], reporter) == 0

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(obj["Key"] for obj in listed) == [
        "audio/en/clip01_nightly_run.txt",
        "audio/en/clip01_nightly_run.wav",
        "audio/en/clip02_numbers.txt",
        "audio/en/clip02_numbers.wav",
        "audio/en/stale.wav",
    ]
    stored = s3.get_object(Bucket=bucket, Key="audio/en/clip02_numbers.wav")["Body"].read()
    assert stored == (corpus / "clip02_numbers.wav").read_bytes()
    assert "1 object(s) under" in reporter.text and "--delete-extra" in reporter.text

    again = reporters()
    args = ["upload-corpus", "--stack", stack, "--corpus", str(corpus), "--delete-extra"]
    assert main(args, again) == 0
    assert "0 uploaded, 4 unchanged" in again.text
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "audio/en/stale.wav" not in keys

    started = reporters()
    assert main(["run-now", "--stack", stack], started) == 0

    assert f"{outputs['NotebookInstanceName']}: Stopped: start requested" in started.text
    [invocation] = Inspector(aws_env).invocations(outputs["StartNotebookFunctionName"])
    assert invocation.event["source"] == "asr-monitor.run-now"
    assert invocation.invocation_type == "RequestResponse"
    [_, message] = _wait_for_messages(aws_env, topic, 2)
    assert message.attributes["status"] == "OK"
    assert "2 in the CSV: 2 scored, 0 failed" in message.message
    # The instance stops itself: leave it Stopped for the next test.
    _wait_stopped(aws_env, outputs["NotebookInstanceName"])


def test_commands_name_a_missing_stack_and_a_bad_corpus(
    aws_env: Twin, tmp_path: Path, reporters: Callable[[], Captured]
) -> None:
    reporter = reporters()
    assert main(["run-now", "--stack", "no-such-stack"], reporter) == 1
    assert "stack no-such-stack does not exist here" in reporter.err.getvalue()
    write(tmp_path, "lonely.wav")
    bad = reporters()
    assert main(["upload-corpus", "--stack", "x1", "--corpus", str(tmp_path)], bad) == 1
    assert "lonely.wav: no reference lonely.txt beside it" in bad.err.getvalue()


def _wait_for_messages(twin: Twin, topic: str, count: int, timeout: float = 240.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = Inspector(twin).sns_messages(topic)
        if len(messages) >= count:
            return messages
        time.sleep(0.2)
    pytest.fail(f"not {count} message(s) on {topic} after {timeout:g} s")


def _wait_stopped(twin: Twin, name: str, timeout: float = 120.0) -> None:
    sagemaker = twin.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] == "Stopped":
            return
        time.sleep(0.2)
    pytest.fail(f"{name} not Stopped after {timeout:g} s")
