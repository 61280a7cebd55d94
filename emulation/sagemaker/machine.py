"""The instance's machine: a mount namespace in which AWS's paths exist and lead into the sandbox.

A lifecycle hook on AWS runs as root, from "/", with PATH /sbin:bin:/usr/sbin:/usr/bin, on a
machine where these exist (SageMaker developer guide and API reference, NotebookInstanceLifecycle-
Hook; "Lifecycle Configuration Best Practices"):

    /home/ec2-user/SageMaker                          the ML storage volume (kept across starts)
    /home/ec2-user/anaconda3/envs/python3/bin/python  the python3 conda environment
    /home/ec2-user/anaconda3/bin/activate             `source .../activate python3`
    /opt/ml/metadata/resource-metadata.json           {"ResourceArn": ..., "ResourceName": ...}
    /usr/bin/aws                                      the AWS CLI
    ec2-user                                          the user Jupyter runs as (sudo -u ec2-user -i)

For each start of an instance the twin starts one machine: a process in a new mount namespace
(``unshare``) whose mounts give it those paths, every hook of the start entering it (``nsenter``).
Nothing is written outside the sandbox: /home and /root are fresh tmpfs (so the conda
environments and the user's home are renewed at every start, as AWS renews them; only the
volume persists), /opt and /usr/bin are read-only overlays adding the metadata file and `aws` to
the host's, /tmp is the start's own folder, and /etc/passwd and /etc/group are copies with an
ec2-user. Everything a hook starts stays in the namespace, which is how the host finds what to
end when the instance stops, whatever user or session it runs as.

Modes (NotebookHostConfig.machine):

    namespace       as root: the machine above, with an ec2-user when sudo is installed (else
                    hooks and all they start run as root, and scripts that would switch to
                    ec2-user stay root)
    user-namespace  not root: a user namespace maps the caller to root, so the same mounts work;
                    no ec2-user (one user is mapped)
    environment     no namespace: hooks run in the sandbox folder and find it through
                    SAGEMAKER_HOME and NOTEBOOK_METADATA_FILE; absolute AWS paths do not exist
    auto            the first of these that works here (probed once per process, and said once
                    in the log)
"""

from __future__ import annotations

import contextlib
import functools
import grp
import json
import logging
import os
import pwd
import select
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulation.core.errors import EmulationError, TwinConfigError

logger = logging.getLogger("emulation.sagemaker")

NAMESPACE, USER_NAMESPACE, ENVIRONMENT, AUTO = "namespace", "user-namespace", "environment", "auto"
MODES = (AUTO, NAMESPACE, USER_NAMESPACE, ENVIRONMENT)
# AWS's PATH for lifecycle scripts, verbatim (API reference, NotebookInstanceLifecycleHook). Its
# "bin" is relative: from the hook's working directory "/", it is /bin.
AWS_HOOK_PATH = "/sbin:bin:/usr/sbin:/usr/bin"
EC2_USER = "ec2-user"
EC2_USER_ID = 1000  # ec2-user's uid and gid on Amazon Linux; the next free one if taken here
# The commands the machine's set-up uses, from the host's system folders.
SETUP_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PROBE_TIMEOUT_SECONDS = 20.0
READY = "machine ready"

# Run by the machine's first process, inside the new namespace, with the TWIN_* variables set;
# it ends by waiting on its stdin, a pipe from the twin, so the machine never outlives the twin.
SETUP_SCRIPT = r"""
set -euo pipefail
# The twin's Python (its environment and installation) is writable for this start alone: an
# overlay on each, whose changes stay in memory and end with the machine, as AWS renews the
# conda environments at every start.
mount -t tmpfs -o mode=0700 tmpfs "$TWIN_LAYERS/rw"
keep=() keep_fd=()
while IFS= read -r path; do
  [ -n "$path" ] || continue
  rw="$TWIN_LAYERS/rw/${#keep[@]}"
  mkdir -p "$rw/upper" "$rw/work"
  mount -t overlay overlay -o "lowerdir=$path,upperdir=$rw/upper,workdir=$rw/work" "$path"
  exec {fd}<"$path"
  keep+=("$path") keep_fd+=("$fd")
done <<<"$TWIN_KEEP"
# Everything else the machine takes from the host is opened now: the mounts below may hide it.
exec 3<"$TWIN_VOLUME" 4<"$TWIN_TMP" 5<"$TWIN_LAYERS/ec2-user"
# The metadata file and `aws` on top of the host's /opt and /usr/bin (read-only overlays), and
# the user database with an ec2-user.
mount -t overlay overlay -o "lowerdir=$TWIN_LAYERS/opt:/opt" /opt
if [ -d "$TWIN_LAYERS/usr-bin" ]; then
  mount -t overlay overlay -o "lowerdir=$TWIN_LAYERS/usr-bin:/usr/bin" /usr/bin
fi
if [ -n "$TWIN_EC2_USER" ]; then
  mount --bind "$TWIN_LAYERS/passwd" /etc/passwd
  mount --bind "$TWIN_LAYERS/group" /etc/group
fi
# A fresh /home, /root and /tmp (the start's own folder).
mount -t tmpfs -o mode=0755 tmpfs /home
mount -t tmpfs -o "mode=$TWIN_ROOT_MODE" tmpfs /root
mount --no-canonicalize --bind /proc/self/fd/4 /tmp
# /home holds ec2-user alone: the volume, the python3 environment and a new home.
mkdir -p /home/ec2-user/SageMaker
mount --no-canonicalize --bind /proc/self/fd/3 /home/ec2-user/SageMaker
cp -R /proc/self/fd/5/. /home/ec2-user/
if [ -n "$TWIN_EC2_USER" ]; then
  chown -R ec2-user:ec2-user /home/ec2-user/anaconda3 /home/ec2-user/.bash_profile
  chown ec2-user:ec2-user /home/ec2-user /home/ec2-user/SageMaker
fi
# The twin's Python, at its own path, if a mount above hid it.
for i in "${!keep[@]}"; do
  case "${keep[$i]}/" in
    /home/* | /root/* | /tmp/*)
      mkdir -p "${keep[$i]}"
      mount --no-canonicalize --bind "/proc/self/fd/${keep_fd[$i]}" "${keep[$i]}"
      ;;
  esac
done
for fd in 3 4 5 "${keep_fd[@]}"; do exec {fd}<&-; done
echo "$TWIN_READY"
exec cat >/dev/null
"""

# conda's activate and deactivate, as far as scripts use them: an environment's bin goes first
# on PATH ("Lifecycle Configuration Best Practices": `source activate python3`).
ACTIVATE = r"""# The twin's stand-in for conda's activate: `source activate [ENV]` (default: base).
_twin_env="${1:-base}"
case "$_twin_env" in
  base) _twin_prefix=/home/ec2-user/anaconda3 ;;
  /*) _twin_prefix="$_twin_env" ;;
  *) _twin_prefix="/home/ec2-user/anaconda3/envs/$_twin_env" ;;
esac
if [ ! -d "$_twin_prefix/bin" ]; then
  echo "EnvironmentNameNotFound: Could not find conda environment: $_twin_env" >&2
  unset _twin_env _twin_prefix
  return 1 2>/dev/null || exit 1
fi
export CONDA_TWIN_PATH_BEFORE="${CONDA_TWIN_PATH_BEFORE:-$PATH}"
export PATH="$_twin_prefix/bin:/home/ec2-user/anaconda3/bin:$CONDA_TWIN_PATH_BEFORE"
export CONDA_PREFIX="$_twin_prefix" CONDA_DEFAULT_ENV="$_twin_env"
unset _twin_env _twin_prefix
"""
DEACTIVATE = r"""# The twin's stand-in for conda's deactivate (source it).
if [ -n "${CONDA_TWIN_PATH_BEFORE:-}" ]; then
  export PATH="$CONDA_TWIN_PATH_BEFORE"
fi
unset CONDA_TWIN_PATH_BEFORE CONDA_PREFIX CONDA_DEFAULT_ENV
"""
# ec2-user's login shell (sudo -u ec2-user -i) finds `activate` as on an instance.
BASH_PROFILE = 'export PATH="/home/ec2-user/anaconda3/bin:$PATH"\n'


@dataclass(frozen=True)
class Isolation:
    """How hooks run here: ``mode`` (never "auto"), whether there is an ec2-user, and why."""

    mode: str
    ec2_user: bool
    reason: str

    @property
    def namespaced(self) -> bool:
        return self.mode != ENVIRONMENT

    def describe(self) -> str:
        if not self.namespaced:
            return (
                "notebook-instance hooks run in the sandbox folder and find it through "
                f"SAGEMAKER_HOME and NOTEBOOK_METADATA_FILE, not at AWS's paths: {self.reason}"
            )
        user = "with an ec2-user" if self.ec2_user else "as root only (no ec2-user)"
        return (
            f"notebook-instance hooks run in a {self.mode} with AWS's paths, {user}: {self.reason}"
        )


def resolve(mode: str, python_bin_dir: str) -> Isolation:
    """The isolation a configured mode gives here ("auto": the first that works)."""
    if mode not in MODES:
        raise TwinConfigError(
            f"NotebookHostConfig.machine: unknown mode {mode!r} (choose one of {', '.join(MODES)})"
        )
    return _resolve(mode, python_bin_dir)


@functools.cache
def _resolve(mode: str, python_bin_dir: str) -> Isolation:
    """Probed once per process and mode; the outcome is said once in the log."""
    if mode == ENVIRONMENT:
        return Isolation(ENVIRONMENT, False, "configured")
    candidate = mode if mode != AUTO else NAMESPACE if os.geteuid() == 0 else USER_NAMESPACE
    problem = _probe(candidate, python_bin_dir)
    if problem is None:
        ec2_user = candidate == NAMESPACE and shutil.which("sudo", path=SETUP_PATH) is not None
        why = "root, unshare" if candidate == NAMESPACE else "unshare --user"
        if candidate == NAMESPACE and not ec2_user:
            why += "; sudo is not installed, so no script could switch to ec2-user"
        isolation = Isolation(candidate, ec2_user, why)
        logger.info(isolation.describe())
        return isolation
    if mode != AUTO:
        raise TwinConfigError(f"NotebookHostConfig.machine={mode!r} does not work here: {problem}")
    isolation = Isolation(ENVIRONMENT, False, f"no {candidate}: {problem}")
    logger.warning(isolation.describe())
    return isolation


def _probe(mode: str, python_bin_dir: str) -> str | None:
    """Why ``mode`` cannot work here, or None: starts a throwaway machine and enters it once."""
    for tool in ("unshare", "nsenter", "mount"):
        if shutil.which(tool, path=SETUP_PATH) is None:
            return f"{tool} not found"
    for folder in ("/home", "/opt", "/root", "/tmp", "/usr/bin"):
        if not os.path.isdir(folder):
            return f"{folder} does not exist"
    with tempfile.TemporaryDirectory(prefix="twin-machine-probe-") as scratch:
        root = Path(scratch)
        machine = Machine(
            Isolation(mode, False, "probe"),
            root / "layers",
            root / "vol",
            root / "tmp",
            python_bin_dir,
        )
        machine.prepare("arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/probe", "probe")
        machine.volume.mkdir()
        try:
            process = machine.start()
        except MachineError as error:
            return str(error)
        try:
            entered = subprocess.run(
                [*machine.enter_command(process.pid), "/bin/true"],
                env={"PATH": SETUP_PATH},
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        finally:
            machine.stop(process)
        if entered.returncode != 0:
            said = (entered.stderr.strip().splitlines() or ["no output"])[-1]
            return f"nsenter failed (exit status {entered.returncode}): {said}"
    return None


class MachineError(EmulationError):
    """A machine could not be started (the set-up's own words)."""


@dataclass(frozen=True)
class Machine:
    """One start's machine: the isolation, the layers it adds, the volume and /tmp it mounts."""

    isolation: Isolation
    layers_root: Path
    volume: Path
    tmp: Path
    python_bin_dir: str

    @property
    def layers(self) -> Layers:
        return Layers(self.layers_root)

    def prepare(self, resource_arn: str, resource_name: str) -> None:
        """Fresh layers and /tmp for a start (AWS starts a new machine every time)."""
        self.layers.build(self.python_bin_dir, ec2_user=self.isolation.ec2_user)
        self.layers.write_metadata(resource_arn, resource_name)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.tmp.chmod(0o1777)

    def start(self) -> subprocess.Popen[str]:
        """The machine's first process, once its mounts are in place (MachineError if not).

        It waits on its stdin, a pipe from the twin: it ends when the run ends, or the twin."""
        keep = keep_paths(self.python_bin_dir)
        env = {
            "PATH": SETUP_PATH,
            "LANG": "C.UTF-8",
            "TWIN_LAYERS": str(self.layers_root),
            "TWIN_VOLUME": str(self.volume),
            "TWIN_TMP": str(self.tmp),
            "TWIN_KEEP": "\n".join(str(path) for path in keep),
            # ec2-user must reach a Python kept under /root (AWS's /root is closed to it).
            "TWIN_ROOT_MODE": "0711" if any(p.is_relative_to("/root") for p in keep) else "0700",
            "TWIN_EC2_USER": EC2_USER if self.isolation.ec2_user else "",
            "TWIN_READY": READY,
        }
        process = subprocess.Popen(
            [*start_command(self.isolation.mode), "/bin/bash", "-c", SETUP_SCRIPT],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        ready, _, _ = select.select([process.stdout], [], [], PROBE_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        if line.strip() != READY:
            self.stop(process)
            said = (process.stderr.read().strip().splitlines() or ["no output"])[-1]
            raise MachineError(
                f"the notebook instance's machine did not start (exit status "
                f"{process.returncode}): {said}"
            )
        return process

    def enter_command(self, pid: int) -> list[str]:
        """The command prefix that runs a program inside machine ``pid``, from "/"."""
        user_namespace = self.isolation.mode == USER_NAMESPACE
        flags = ["--user", "--preserve-credentials"] if user_namespace else []
        return ["nsenter", f"--target={pid}", "--mount", *flags, "--wd=/"]

    @staticmethod
    def stop(process: subprocess.Popen[str]) -> None:
        """End the first process (its namespace goes once nothing else runs in it)."""
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_command(mode: str) -> list[str]:
    """The command that starts a machine's first process in its own namespace(s)."""
    command = ["unshare", "--mount", "--propagation", "private"]
    if mode == USER_NAMESPACE:
        command[1:1] = ["--user", "--map-root-user"]
    return command


def python_prefix(python_bin_dir: str) -> Path:
    """The environment the python3 conda environment stands for: the twin's own Python's."""
    return Path(python_bin_dir).parent


def keep_paths(python_bin_dir: str) -> list[Path]:
    """What the machine keeps at its own path: the Python's environment and installation."""
    python = Path(python_bin_dir) / "python"
    real = Path(os.path.realpath(python if python.exists() else sys.executable))
    return sorted({python_prefix(python_bin_dir), real.parent.parent}, key=lambda p: len(p.parts))


@dataclass(frozen=True)
class Layers:
    """What the machine adds to the host's files, kept in the instance's sandbox."""

    root: Path

    @property
    def metadata_file(self) -> Path:
        return self.root / "opt" / "ml" / "metadata" / "resource-metadata.json"

    def build(self, python_bin_dir: str, *, ec2_user: bool) -> None:
        """Write the layers afresh (a start gets the conda shim and user database of now)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.metadata_file.parent.mkdir(parents=True)
        aws = Path(python_bin_dir) / "aws"
        if aws.exists():
            (self.root / "usr-bin").mkdir()
            (self.root / "usr-bin" / "aws").symlink_to(aws)
        (self.root / "rw").mkdir()  # where the machine mounts its writable layers
        home = self.root / "ec2-user"
        conda_bin = home / "anaconda3" / "bin"
        conda_bin.mkdir(parents=True)
        (conda_bin / "activate").write_text(ACTIVATE, encoding="utf-8")
        (conda_bin / "deactivate").write_text(DEACTIVATE, encoding="utf-8")
        (home / ".bash_profile").write_text(BASH_PROFILE, encoding="utf-8")
        self._python3_environment(home / "anaconda3" / "envs" / "python3", python_bin_dir)
        if ec2_user:
            self._user_database()

    def write_metadata(self, resource_arn: str, resource_name: str) -> None:
        """/opt/ml/metadata/resource-metadata.json, as AWS writes it at every start."""
        metadata = {"ResourceArn": resource_arn, "ResourceName": resource_name}
        self.metadata_file.write_text(json.dumps(metadata), encoding="utf-8")

    @staticmethod
    def _python3_environment(env: Path, python_bin_dir: str) -> None:
        prefix = python_prefix(python_bin_dir)
        env.parent.mkdir(parents=True, exist_ok=True)
        if (prefix / "bin" / "python").exists():
            env.symlink_to(prefix)  # a venv: its python finds pyvenv.cfg through the link
            return
        (env / "bin").mkdir(parents=True)
        for name in ("python", "python3"):
            (env / "bin" / name).symlink_to(sys.executable)

    def _user_database(self) -> None:
        """Copies of /etc/passwd and /etc/group with an ec2-user (1000, or the next free id)."""
        uid = EC2_USER_ID
        while _taken(uid):
            uid += 1
        passwd = Path("/etc/passwd").read_text(encoding="utf-8")
        group = Path("/etc/group").read_text(encoding="utf-8")
        line = f"{EC2_USER}:x:{uid}:{uid}:EC2 Default User:/home/{EC2_USER}:/bin/bash\n"
        (self.root / "passwd").write_text(passwd.rstrip("\n") + "\n" + line, encoding="utf-8")
        (self.root / "group").write_text(
            group.rstrip("\n") + f"\n{EC2_USER}:x:{uid}:\n", encoding="utf-8"
        )


def _taken(uid: int) -> bool:
    with contextlib.suppress(KeyError):
        pwd.getpwuid(uid)
        return True
    with contextlib.suppress(KeyError):
        grp.getgrgid(uid)
        return True
    return False
