#!/bin/bash
# OnStart lifecycle hook of the ASR accuracy monitor's notebook instance.
#
# The hook returns in seconds (SageMaker fails an instance whose hook runs past 5 minutes): it
# starts the run in the background, as ec2-user like AWS's lifecycle samples (sudo -u ec2-user
# -i; when not root, or without that user, as the current user), and exits. The run:
#   1. fetches the notebook, the pipeline package and the requirements from the artifacts;
#   2. installs the requirements into an environment on the instance's EBS volume, keyed by
#      their hash and the Python version, so later starts reuse it (AWS refreshes the conda
#      environments on every stop and start; only /home/ec2-user/SageMaker persists);
#   3. runs notebooks/transcribe_and_score.ipynb with papermill, bounded by ASR_MAX_RUN_MINUTES;
#   4. ALWAYS reports and stops the instance: when anything fails (a pip error, the notebook,
#      a stop from outside), pipeline.failed_run writes scores/<run_id>.csv with the error, so
#      ingest records the run in DynamoDB and sends FAILED (or NO_CORPUS) like any run.
# Throughout, it writes reports/<run_id>/heartbeat.json and uploads its log to
# reports/<run_id>/run.log (pipeline/layout.py), so a run can be read, and a stuck instance
# found by the starter Lambda, without starting the instance.
#
# Configuration comes from the environment, exported by the stack's bootstrap (ASR_*). Paths
# default to a real instance's, which the twin provides too (emulation/sagemaker/machine.py;
# where it cannot, it points SAGEMAKER_HOME and friends into its sandbox). The twin also sets
# ASR_NOTEBOOK_PYTHON, an interpreter that already has the requirements (step 2 is skipped).
set -euo pipefail

SAGEMAKER_HOME="${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}"
METADATA_FILE="${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}"
# The instance's python3 conda environment (Python 3.10): builds the run's environment and runs
# the failure path, which needs only the standard library and boto3.
ASR_PYTHON="${ASR_PYTHON:-/home/ec2-user/anaconda3/envs/python3/bin/python}"
RUN_USER="ec2-user"
WORK="$SAGEMAKER_HOME/asr-monitor"
KERNEL_NAME="asr-monitor"
NOTEBOOK_NAME="transcribe_and_score.ipynb"  # pipeline.layout.NOTEBOOK_NAME
RUN_LOG_NAME="run.log"                      # pipeline.layout.RUN_LOG_NAME
HEARTBEAT_NAME="heartbeat.json"             # pipeline.layout.HEARTBEAT_NAME

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on-start: $*"; }

instance_name() {
  "$ASR_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ResourceName"])' \
    "$METADATA_FILE"
}

new_run_id() {
  echo "$(date -u +%Y-%m-%dT%H-%M-%SZ)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
}

# Runs "$@" as ec2-user when this is root and the user exists (a real instance), else as is.
as_run_user() {
  if [ "$(id -u)" = 0 ] && id "$RUN_USER" >/dev/null 2>&1; then
    sudo -u "$RUN_USER" -i "$@"
  else
    "$@"
  fi
}

# ------------------------------------------------------------------------------- the hook
start_run() {
  RUN_ID="$(new_run_id)"
  RUN_DIR="$WORK/runs/$RUN_ID"
  mkdir -p "$RUN_DIR"
  # The run reads its environment from this file: `sudo -i` starts from a login environment.
  export -p | grep -vE '^declare -[a-z]*x[a-z]* (HOME|USER|LOGNAME|SHELL|PWD|OLDPWD|SHLVL|MAIL|SHELLOPTS|BASHOPTS|_)(=|$)' \
    >"$RUN_DIR/run.env"
  chmod 600 "$RUN_DIR/run.env"
  if [ "$(id -u)" = 0 ] && id "$RUN_USER" >/dev/null 2>&1; then
    chown -R "$RUN_USER:$RUN_USER" "$WORK"
  fi
  as_run_user nohup bash "$(readlink -f "$0")" run "$RUN_ID" </dev/null >/dev/null 2>&1 &
  log "started run $RUN_ID in the background (pid $!) as $(as_run_user id -un);" \
    "log: $RUN_DIR/$RUN_LOG_NAME, s3://$ASR_RESULTS_BUCKET/reports/$RUN_ID/$RUN_LOG_NAME"
}

# ------------------------------------------------------------------------------- the run
phase() {
  PHASE="$1"
  echo "$1" >"$RUN_DIR/phase"
  log "phase: $1"
}

report_uri() { echo "s3://$ASR_RESULTS_BUCKET/reports/$RUN_ID/$1"; }

upload_log() {
  aws s3 cp --only-show-errors --content-type "text/plain; charset=utf-8" \
    "$RUN_DIR/$RUN_LOG_NAME" "$(report_uri "$RUN_LOG_NAME")" >/dev/null 2>&1
}

beat() {
  printf '{"run_id": "%s", "instance": "%s", "phase": "%s", "pid": %s, "at": "%s"}\n' \
    "$RUN_ID" "$INSTANCE_NAME" "$(cat "$RUN_DIR/phase" 2>/dev/null)" "$$" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" |
    aws s3 cp --only-show-errors --content-type application/json - "$(report_uri "$HEARTBEAT_NAME")"
}

heartbeat_loop() {
  local sleeper=""
  trap - EXIT INT
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  while :; do
    beat || log "WARNING: heartbeat not written"
    upload_log || true
    sleep "${ASR_HEARTBEAT_SECONDS:-60}" &
    sleeper=$!
    wait "$sleeper"
  done
}

instance_status() {
  aws sagemaker describe-notebook-instance --notebook-instance-name "$INSTANCE_NAME" \
    --query NotebookInstanceStatus --output text
}

# StopNotebookInstance is accepted only from InService ("Status (Pending) not in ([InService])"):
# ask, and only when refused read the status; wait for InService, bounded, retrying with
# backoff. If this fails, the heartbeat has stopped, and the starter Lambda stops the instance
# at the next schedule.
stop_instance() {
  local deadline=$((SECONDS + ${ASR_STOP_WAIT_SECONDS:-1800})) delay=5 status refused
  while :; do
    if refused="$(aws sagemaker stop-notebook-instance \
      --notebook-instance-name "$INSTANCE_NAME" 2>&1)"; then
      log "stop requested for $INSTANCE_NAME"
      return 0
    fi
    status="$(instance_status 2>&1)" || status="unknown ($status)"
    case "$status" in
      Stopping | Stopped | Deleting)
        log "$INSTANCE_NAME is already $status"
        return 0
        ;;
      InService) log "the stop of $INSTANCE_NAME was refused: $refused" ;;
      *) log "$INSTANCE_NAME is $status; it can be stopped once InService" ;;
    esac
    upload_log
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "ERROR: could not stop $INSTANCE_NAME within ${ASR_STOP_WAIT_SECONDS:-1800} s"
      return 1
    fi
    sleep "$delay"
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

publish_failure() {
  # Last resort, used only when the pipeline package cannot be fetched to write a failure CSV.
  aws sns publish --topic-arn "$ASR_TOPIC_ARN" \
    --subject "ASR monitor FAILED: run $RUN_ID could not start" \
    --message "Run $RUN_ID on $INSTANCE_NAME failed before the notebook ran: $1. Log: $(report_uri "$RUN_LOG_NAME")" \
    --message-attributes "{\"status\":{\"DataType\":\"String\",\"StringValue\":\"FAILED\"},\
\"run_id\":{\"DataType\":\"String\",\"StringValue\":\"$RUN_ID\"}}" >/dev/null ||
    log "ERROR: publish failed"
}

# The three downloads run side by side: each `aws` call is mostly its interpreter's start-up.
fetch_artifacts() {
  local pids=() pid status=0
  mkdir -p "$RUN_DIR/pipeline" || return 1
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/notebooks/$NOTEBOOK_NAME" "$RUN_DIR/$NOTEBOOK_NAME" &
  pids+=($!)
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/pipeline.zip" "$RUN_DIR/pipeline.zip" &
  pids+=($!)
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/requirements-notebook.txt" \
    "$RUN_DIR/requirements-notebook.txt" &
  pids+=($!)
  for pid in "${pids[@]}"; do
    wait "$pid" || status=1
  done
  [ "$status" -eq 0 ] &&
    "$ASR_PYTHON" -m zipfile -e "$RUN_DIR/pipeline.zip" "$RUN_DIR/pipeline" &&
    export PYTHONPATH="$RUN_DIR/pipeline${PYTHONPATH:+:$PYTHONPATH}"
}

# The run's environment: ASR_NOTEBOOK_PYTHON if given (the twin), else a venv under $WORK/envs
# keyed by the requirements and the Python version, built once and reused (.complete).
prepare_environment() {
  if [ -n "${ASR_NOTEBOOK_PYTHON:-}" ]; then
    RUN_PYTHON="$ASR_NOTEBOOK_PYTHON"
    log "using the provided interpreter $RUN_PYTHON"
    return 0
  fi
  local key env started
  key="$({ cat "$RUN_DIR/requirements-notebook.txt" && "$ASR_PYTHON" -c \
    'import platform, sys; print(sys.version, platform.machine())'; } | sha256sum | cut -c1-16)" ||
    return 1
  env="$WORK/envs/$key"
  RUN_PYTHON="$env/bin/python"
  if [ -f "$env/.complete" ]; then
    log "reusing environment $key ($(cat "$env/.complete"))"
    return 0
  fi
  log "building environment $key (requirements-notebook.txt with $("$ASR_PYTHON" -V 2>&1))"
  started=$SECONDS
  rm -rf "$env"
  if ! "$ASR_PYTHON" -m venv "$env" >"$RUN_DIR/pip.log" 2>&1 ||
    ! "$RUN_PYTHON" -m pip install --disable-pip-version-check --no-input \
      -r "$RUN_DIR/requirements-notebook.txt" >>"$RUN_DIR/pip.log" 2>&1; then
    cat "$RUN_DIR/pip.log"
    INSTALL_ERROR="$(grep -E '^(ERROR|error)' "$RUN_DIR/pip.log" | tail -n 3 | tr '\n' ' ')"
    INSTALL_ERROR="${INSTALL_ERROR:-$(tail -n 3 "$RUN_DIR/pip.log" | tr '\n' ' ')}"
    rm -rf "$env"
    return 1
  fi
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s" >"$env/.complete"
  log "environment $key $(cat "$env/.complete")"
  # Older environments (other requirements) only take space on the 5 GB volume.
  find "$WORK/envs" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} + || true
}

# A kernel for this python, so papermill finds it by name ("No such kernel" otherwise): the
# kernel spec `python -m ipykernel install` writes (ipykernel 6.31 and 7), without importing it
# (a third of a second); that ipykernel is installed is checked all the same.
register_kernel() {
  local spec="$WORK/jupyter/share/jupyter/kernels/$KERNEL_NAME"
  mkdir -p "$spec" &&
    "$RUN_PYTHON" -c '
import importlib.util, json, platform, sys
if importlib.util.find_spec("ipykernel") is None:
    sys.exit(f"{sys.executable}: No module named ipykernel")
frozen = ["-Xfrozen_modules=off"] if platform.python_implementation() == "CPython" else []
argv = [sys.executable, *frozen, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
spec = {"argv": argv, "display_name": sys.argv[2], "language": "python",
        "metadata": {"debugger": True}}
with open(sys.argv[1], "w", encoding="utf-8") as file:
    json.dump(spec, file, indent=1)
' "$spec/kernel.json" "$KERNEL_NAME" &&
    export JUPYTER_PATH="$WORK/jupyter/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
}

run_notebook() {
  # timeout bounds the whole run (a dead kernel can hang papermill).
  timeout --kill-after=60 "$((${ASR_MAX_RUN_MINUTES:-120} * 60))" \
    "$RUN_PYTHON" -m papermill "$RUN_DIR/$NOTEBOOK_NAME" "$EXECUTED" \
    --kernel "$KERNEL_NAME" --log-output --request-save-on-cell-execute \
    -p run_id "$RUN_ID" \
    -p media_bucket "$ASR_MEDIA_BUCKET" \
    -p results_bucket "$ASR_RESULTS_BUCKET" \
    -p corpus_prefix "${ASR_CORPUS_PREFIX:-corpus/}" \
    -p language_code "${ASR_LANGUAGE_CODE:-en-US}" \
    -p max_jobs_in_flight "${ASR_MAX_JOBS_IN_FLIGHT:-250}" \
    -p engine_label "${ASR_ENGINE_LABEL:-amazon-transcribe}" \
    -p poll_interval "${ASR_POLL_INTERVAL:-30}" \
    -p sweep_interval "${ASR_SWEEP_INTERVAL:-2}" \
    -p scores_table "${ASR_SCORES_TABLE:-}" \
    -p regression_threshold "${ASR_REGRESSION_THRESHOLD:-0.02}" \
    -p confidence "${ASR_REGRESSION_CONFIDENCE:-0.95}"
}

upload_notebook() {
  [ -f "$EXECUTED" ] || return 0
  aws s3 cp --only-show-errors "$EXECUTED" "$(report_uri "$NOTEBOOK_NAME")" ||
    log "ERROR: could not upload the executed notebook"
}

# The executed notebook goes up while the run goes on (its log, its failure CSV); the run
# waits for it before the instance stops.
upload_notebook_started() {
  upload_notebook &
  NOTEBOOK_UPLOAD=$!
}

notebook_uploaded() {
  [ -n "$NOTEBOOK_UPLOAD" ] && wait "$NOTEBOOK_UPLOAD"
  NOTEBOOK_UPLOAD=""
}

# The one failure path: a scores CSV carrying the error (it is skipped if the run wrote one).
report_failure() {
  log "run failed: $1"
  upload_log # the log is in S3 by the time the message arrives
  "$ASR_PYTHON" -m pipeline.failed_run --run-id "$RUN_ID" \
    --media-bucket "$ASR_MEDIA_BUCKET" --results-bucket "$ASR_RESULTS_BUCKET" \
    --corpus-prefix "${ASR_CORPUS_PREFIX:-corpus/}" --notebook "$EXECUTED" \
    --stack "${ASR_STACK:-}" --reason "$1" ||
    publish_failure "$1; and no failure CSV could be written"
}

on_term() {
  [ -n "$FINISHED" ] && exit 0 # our own stop request ends the run's processes
  STOPPED_FROM_OUTSIDE=1
  exit 143
}

finish() {
  local status=$?
  trap - EXIT TERM INT
  FINISHED=1
  [ -n "$HEARTBEAT_PID" ] && kill "$HEARTBEAT_PID" 2>/dev/null && wait "$HEARTBEAT_PID"
  if [ -n "$STOPPED_FROM_OUTSIDE" ]; then
    # Stopped from outside (StopNotebookInstance, the starter, a watchdog): report it, quickly.
    [ -n "$PIPELINE_READY" ] && report_failure "the instance was stopped from outside the run \
(StopNotebookInstance) after $((SECONDS - RUN_STARTED)) s, during phase $PHASE"
    upload_notebook
    upload_log
    exit "$status"
  fi
  upload_log
  notebook_uploaded
  phase stopping
  stop_instance
  upload_log
  exit "$status"
}

run() {
  RUN_STARTED=$SECONDS PHASE=start FINISHED="" STOPPED_FROM_OUTSIDE="" HEARTBEAT_PID=""
  PIPELINE_READY="" INSTALL_ERROR="" EXECUTED="$RUN_DIR/transcribe_and_score.output.ipynb"
  NOTEBOOK_UPLOAD=""
  trap finish EXIT
  trap on_term TERM INT
  : "${ASR_ARTIFACTS:?}" "${ASR_MEDIA_BUCKET:?}" "${ASR_RESULTS_BUCKET:?}" "${ASR_TOPIC_ARN:?}"
  INSTANCE_NAME="$(instance_name)" || INSTANCE_NAME="unknown"
  log "run $RUN_ID on $INSTANCE_NAME as $(id -un)"
  phase fetch
  heartbeat_loop &
  HEARTBEAT_PID=$!
  if ! fetch_artifacts; then
    publish_failure "could not fetch the artifacts from $ASR_ARTIFACTS"
    return 1
  fi
  PIPELINE_READY=1
  phase install
  local started=$SECONDS
  if ! prepare_environment; then
    report_failure "pip install of requirements-notebook.txt failed: \
${INSTALL_ERROR:-see $(report_uri "$RUN_LOG_NAME")}"
    return 1
  fi
  log "environment ready in $((SECONDS - started)) s"
  if ! register_kernel; then
    report_failure "could not register the kernel with $RUN_PYTHON"
    return 1
  fi
  phase notebook
  local status=0
  run_notebook || status=$?
  upload_notebook_started
  if [ "$status" -ne 0 ]; then
    phase failure
    report_failure "papermill exited with status $status"
    return "$status"
  fi
  log "run $RUN_ID complete"
}

if [ "${1:-}" = "run" ]; then
  set +e # every step of the run is checked explicitly: set -e does not hold inside `if`/`||`
  RUN_ID="$2"
  RUN_DIR="$WORK/runs/$RUN_ID"
  exec >>"$RUN_DIR/$RUN_LOG_NAME" 2>&1
  # shellcheck disable=SC1091
  source "$RUN_DIR/run.env"
  run
else
  : "${ASR_ARTIFACTS:?}" "${ASR_MEDIA_BUCKET:?}" "${ASR_RESULTS_BUCKET:?}" "${ASR_TOPIC_ARN:?}"
  start_run
fi
