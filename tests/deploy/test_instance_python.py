"""The notebook instance runs Python 3.10 (SageMaker developer guide, "Amazon Linux 2023 notebook
instances": the python3 conda environment): its lock must resolve for 3.10, and the code it and
the Lambdas run must not need anything newer. No 3.10 interpreter is needed for either
(deploy.instance_python).

The resolutions ask PyPI (``pip install --dry-run``, metadata only), so these tests need it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deploy.instance_python import (
    LOCK,
    InstancePythonError,
    check_code,
    check_lock,
    lock_differences,
    notebook_code,
    read_pins,
)
from deploy.package import NOTEBOOK, PROJECT_ROOT

pytestmark = pytest.mark.network


def test_the_instance_lock_resolves_for_python_310_to_exactly_its_pins() -> None:
    pins = check_lock(PROJECT_ROOT / LOCK)
    assert pins["ipykernel"].startswith("6.")  # 7.x needs 3.11
    assert pins["ipython"].startswith("8.")  # 9.x needs 3.11
    assert {"papermill", "jiwer", "whisper-normalizer", "boto3", "nbformat"} <= set(pins)


def test_a_pin_that_needs_python_311_fails_the_resolution(tmp_path: Path) -> None:
    lock = tmp_path / "instance.txt"
    text = (PROJECT_ROOT / LOCK).read_text(encoding="utf-8")
    lock.write_text(text.replace("ipykernel==6.31.0", "ipykernel==7.4.0"), encoding="utf-8")
    with pytest.raises(InstancePythonError, match=r"ipykernel.*Python.*3\.10|3\.10.*ipykernel"):
        check_lock(lock)


def test_a_lock_that_misses_a_dependency_or_pins_another_version_is_named() -> None:
    resolved = {"tornado": "6.5.10", "jiwer": "4.0.0", "RapidFuzz": "3.14.5"}
    pinned = {"jiwer": "4.0.0", "rapidfuzz": "3.13.0"}
    assert lock_differences(resolved, pinned) == [
        "rapidfuzz: locked 3.13.0, resolved 3.14.5",
        "tornado: locked nothing, resolved 6.5.10",
    ]


def test_an_unpinned_lock_line_is_refused_with_its_line(tmp_path: Path) -> None:
    lock = tmp_path / "instance.txt"
    lock.write_text("# header\njiwer==4.0.0\npapermill>=2\n", encoding="utf-8")
    with pytest.raises(InstancePythonError, match=r"instance\.txt:3: 'papermill>=2'"):
        read_pins(lock)


def project_copy(root: Path) -> Path:
    shutil.copytree(
        PROJECT_ROOT / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / NOTEBOOK).parent.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / NOTEBOOK, root / NOTEBOOK)
    return root


def test_the_instance_code_and_the_notebook_cells_run_on_python_310() -> None:
    check_code(PROJECT_ROOT)
    assert "run_corpus(" in notebook_code(PROJECT_ROOT / NOTEBOOK)


def test_a_311_only_api_in_the_pipeline_fails_the_check(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    module = root / "pipeline" / "run_id.py"
    module.write_text(
        module.read_text() + "\n\ndef _now():\n    from datetime import UTC, datetime\n\n"
        "    return datetime.now(UTC)\n"
    )
    with pytest.raises(InstancePythonError, match=r"run_id\.py[\s\S]*datetime\.UTC"):
        check_code(root)


def test_a_311_only_module_in_a_notebook_cell_fails_the_check(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    notebook = json.loads((root / NOTEBOOK).read_text())
    notebook["cells"].append(
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["import tomllib\n"]}
    )
    (root / NOTEBOOK).write_text(json.dumps(notebook))
    with pytest.raises(InstancePythonError, match="tomllib"):
        check_code(root)
