"""Settings of the notebook-instance host, and the sandbox standing in for an instance's disk."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from emulation.core.errors import TwinConfigError
from emulation.sagemaker.machine import AUTO, AWS_HOOK_PATH, MODES, Isolation, Layers, Machine

# AWS's documented limit on one lifecycle hook (CreateNotebookInstanceLifecycleConfig).
AWS_HOOK_LIMIT_SECONDS = 300.0
# Without a namespace: what a hook's PATH holds after the twin's Python's bin folder.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Set in every process an instance starts, so the host finds processes that left its session
# (Jupyter kernels start in a new session, for example).
RUN_MARKER_ENV = "TWIN_NOTEBOOK_RUN"
# Where hooks run: "process" (a local process group in a sandbox folder) or "container" (the
# notebook-instance container of docker-compose.yml, through `docker exec`).
RUNNERS = ("process", "container")
DEFAULT_NOTEBOOK_CONTAINER = "asr-monitor-notebook-instance"


@dataclass(frozen=True)
class NotebookHostConfig:
    """How the twin hosts notebook instances.

    hook_limit_seconds   AWS fails a lifecycle hook (OnCreate, OnStart: each) after 5 minutes.
    max_run_seconds      the watchdog stops an instance running longer than this (None: never).
    pending_seconds      time in Pending before the OnStart hook starts (provisioning).
    boot_seconds         time still in Pending after the OnStart hook exits 0 (AWS starts
                         Jupyter then): what the hook backgrounded already runs, and a
                         StopNotebookInstance it makes is refused until InService. A test
                         may hold it long and end it (NotebookHost.end_pending).
    stopping_seconds     time in Stopping before the instance's processes are ended. It lets a
                         StopNotebookInstance call made by the instance itself return first
                         (`aws` exits about 0.15 s after the call; AWS takes a minute or more).
                         NotebookHost.end_stopping ends a long one.
    updating_seconds     time in Updating after UpdateNotebookInstance, before Stopped.
    stop_grace_seconds   SIGTERM, then SIGKILL after this long.
    extra_env            added last to the environment of the hook (and all it starts).
    python_bin_dir       the twin's Python: the instance's python3 conda environment and its
                         `aws` (machine.py); without a namespace, first on the hook's PATH.
    machine              how a hook sees AWS's paths (machine.py): "auto", "namespace",
                         "user-namespace" or "environment" (SAGEMAKER_HOME and friends).
    runner               "process": the hook runs here, in the sandbox; "container": it runs in
                         `container` (docker exec ... notebook-instance run-hook), and a stop
                         restarts that container (docker restart -t <stop_grace_seconds>). The
                         container is the instance's machine: it hosts one instance at a time.
    container            the notebook-instance container (runner "container").
    docker               the Docker CLI (runner "container").
    aws_env              where the host's own AWS calls go (the hook's output to CloudWatch
                         Logs): a backend's client_env. None: the twin's own moto, in-process.
    temporary            sandbox_root is the host's own: it goes when the host is uninstalled.
    """

    sandbox_root: Path
    hook_limit_seconds: float = AWS_HOOK_LIMIT_SECONDS
    max_run_seconds: float | None = 2 * 3600.0
    pending_seconds: float = 0.2
    boot_seconds: float = 0.0
    stopping_seconds: float = 1.0
    updating_seconds: float = 0.2
    stop_grace_seconds: float = 5.0
    extra_env: dict[str, str] = field(default_factory=dict)
    python_bin_dir: str = os.path.dirname(sys.executable)
    machine: str = AUTO
    runner: str = "process"
    container: str = DEFAULT_NOTEBOOK_CONTAINER
    docker: str = "docker"
    aws_env: dict[str, str] | None = None
    temporary: bool = False

    def __post_init__(self) -> None:
        if self.machine not in MODES:
            raise TwinConfigError(
                f"NotebookHostConfig.machine: unknown mode {self.machine!r} "
                f"(choose one of {', '.join(MODES)})"
            )
        if self.runner not in RUNNERS:
            raise TwinConfigError(
                f"NotebookHostConfig.runner: unknown runner {self.runner!r} "
                f"(choose one of {', '.join(RUNNERS)})"
            )


@dataclass(frozen=True)
class Sandbox:
    """One instance's disk on the host: the ML storage volume, the start's machine, its logs.

    In a namespace (machine.py) the volume is /home/ec2-user/SageMaker and the metadata file
    /opt/ml/metadata/resource-metadata.json; without one, hooks find them through the
    environment variables SAGEMAKER_HOME and NOTEBOOK_METADATA_FILE.
    """

    root: Path

    @property
    def sagemaker_home(self) -> Path:
        """The ML storage volume: the only folder kept from one start to the next."""
        return self.root / "home" / "ec2-user" / "SageMaker"

    @property
    def layers(self) -> Layers:
        return Layers(self.root / "machine")

    @property
    def metadata_file(self) -> Path:
        return self.layers.metadata_file

    @property
    def tmp(self) -> Path:
        """The start's /tmp, where AWS writes the hook scripts (/tmp/OnStart_<...>)."""
        return self.root / "tmp"

    @property
    def home(self) -> Path:
        """Root's home without a namespace: the host's own ~/.aws must not leak in."""
        return self.root / "root"

    def hook_log(self, hook: str) -> Path:
        """The file behind log stream <name>/LifecycleConfig<hook> (OnCreate, OnStart)."""
        return self.root / "var" / "log" / "lifecycle-config" / f"LifecycleConfig{hook}.log"

    def machine(self, isolation: Isolation, config: NotebookHostConfig) -> Machine:
        return Machine(
            isolation, self.layers.root, self.sagemaker_home, self.tmp, config.python_bin_dir
        )

    def prepare(
        self, isolation: Isolation, config: NotebookHostConfig, arn: str, name: str
    ) -> None:
        """A new machine for a start: the volume kept, the rest (metadata, /tmp) renewed."""
        for folder in (self.sagemaker_home, self.home, self.hook_log("OnStart").parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.machine(isolation, config).prepare(arn, name)

    def env(
        self,
        config: NotebookHostConfig,
        isolation: Isolation,
        twin_env: dict[str, str],
        run_marker: str,
    ) -> dict[str, str]:
        """The hook's whole environment, built from scratch so nothing leaks in from the host."""
        if isolation.namespaced:
            base = {"PATH": AWS_HOOK_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
            paths: dict[str, str] = {}
        else:
            base = {
                "PATH": f"{config.python_bin_dir}:{SYSTEM_PATH}",
                "HOME": str(self.home),
                "TMPDIR": str(self.tmp),
                "LANG": "C.UTF-8",
            }
            paths = {
                "SAGEMAKER_HOME": str(self.sagemaker_home),
                "NOTEBOOK_METADATA_FILE": str(self.metadata_file),
            }
        return {**base, **twin_env, **paths, RUN_MARKER_ENV: run_marker, **config.extra_env}
