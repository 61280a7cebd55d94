#!/bin/bash
# OnStart lifecycle hook of the ASR accuracy monitor's notebook instance.
#
# The hook returns in seconds (SageMaker fails an instance whose hook runs past 5 minutes): it
# starts the run in the background and exits. The run executes notebooks/transcribe_and_score.ipynb
# with papermill, uploads the executed notebook to reports/<run_id>/, and ALWAYS stops this
# instance at the end, after success or failure, so nothing is left running and billing.
#
# Failure path: when the notebook fails, pipeline.failed_run writes scores/<run_id>.csv with one
# failed row per input file, carrying the notebook's error. Ingest then records the failure and
# sends the FAILED notification through the same path as every run. Only if the pipeline package
# itself cannot be loaded does this script publish the FAILED message to SNS directly.
#
# Configuration comes from the environment, exported by the stack's bootstrap (ASR_*). Paths
# default to what a real notebook instance has; the twin points them into its sandbox.
set -euo pipefail

SAGEMAKER_HOME="${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}"
METADATA_FILE="${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}"
ASR_PYTHON="${ASR_PYTHON:-/home/ec2-user/anaconda3/envs/python3/bin/python}"
WORK="$SAGEMAKER_HOME/asr-monitor"
KERNEL_NAME="asr-monitor"

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on-start: $*"; }

instance_name() {
  "$ASR_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ResourceName"])' \
    "$METADATA_FILE"
}

new_run_id() {
  echo "$(date -u +%Y-%m-%dT%H-%M-%SZ)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
}

instance_status() {
  aws sagemaker describe-notebook-instance --notebook-instance-name "$INSTANCE_NAME" \
    --query NotebookInstanceStatus --output text
}

stop_instance() {
  local attempt
  for attempt in 1 2 3 4 5; do
    case "$(instance_status 2>/dev/null)" in
      Stopping | Stopped) log "$INSTANCE_NAME is already stopping"; return 0 ;;
    esac
    if aws sagemaker stop-notebook-instance --notebook-instance-name "$INSTANCE_NAME"; then
      log "stop requested for $INSTANCE_NAME"
      return 0
    fi
    log "stop attempt $attempt failed; retrying"
    sleep $((attempt * 5))
  done
  log "ERROR: could not stop $INSTANCE_NAME"
}

publish_failure() {
  # Last resort, used only when the pipeline package cannot be loaded to write a failure CSV.
  aws sns publish --topic-arn "$ASR_TOPIC_ARN" \
    --subject "FAILED: ASR run $RUN_ID could not start" \
    --message "Run $RUN_ID on $INSTANCE_NAME failed before the notebook ran: $1" \
    --message-attributes "{\"status\":{\"DataType\":\"String\",\"StringValue\":\"FAILED\"},\
\"run_id\":{\"DataType\":\"String\",\"StringValue\":\"$RUN_ID\"}}" || log "ERROR: publish failed"
}

fetch_artifacts() {
  mkdir -p "$RUN_DIR/pipeline"
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/notebooks/transcribe_and_score.ipynb" \
    "$RUN_DIR/transcribe_and_score.ipynb"
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/pipeline.zip" "$RUN_DIR/pipeline.zip"
  aws s3 cp --only-show-errors "$ASR_ARTIFACTS/requirements-notebook.txt" \
    "$RUN_DIR/requirements-notebook.txt"
  "$ASR_PYTHON" -m zipfile -e "$RUN_DIR/pipeline.zip" "$RUN_DIR/pipeline"
  export PYTHONPATH="$RUN_DIR/pipeline${PYTHONPATH:+:$PYTHONPATH}"
}

prepare_kernel() {
  # Install what the notebook needs only when missing (a real instance installs once; the twin
  # already has it), then register a kernel for this python: avoids papermill's "No such kernel".
  if ! "$ASR_PYTHON" -c 'import papermill, ipykernel, jiwer, whisper_normalizer' 2>/dev/null; then
    "$ASR_PYTHON" -m pip install --quiet -r "$RUN_DIR/requirements-notebook.txt"
  fi
  "$ASR_PYTHON" -m ipykernel install --prefix "$WORK/jupyter" --name "$KERNEL_NAME" >/dev/null
  export JUPYTER_PATH="$WORK/jupyter/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
}

run_notebook() {
  # timeout bounds the whole run (a dead kernel can hang papermill); the twin's and our own
  # stop_instance bound the instance's life.
  timeout --kill-after=60 "$((${ASR_MAX_RUN_MINUTES:-120} * 60))" \
    "$ASR_PYTHON" -m papermill "$RUN_DIR/transcribe_and_score.ipynb" "$EXECUTED" \
    --kernel "$KERNEL_NAME" --log-output --request-save-on-cell-execute \
    -p run_id "$RUN_ID" \
    -p media_bucket "$ASR_MEDIA_BUCKET" \
    -p results_bucket "$ASR_RESULTS_BUCKET" \
    -p corpus_prefix "${ASR_CORPUS_PREFIX:-corpus/}" \
    -p language_code "${ASR_LANGUAGE_CODE:-en-US}" \
    -p max_jobs_in_flight "${ASR_MAX_JOBS_IN_FLIGHT:-100}" \
    -p engine_label "${ASR_ENGINE_LABEL:-amazon-transcribe}" \
    -p poll_interval "${ASR_POLL_INTERVAL:-5}"
}

write_failure_csv() {
  "$ASR_PYTHON" -m pipeline.failed_run --run-id "$RUN_ID" \
    --media-bucket "$ASR_MEDIA_BUCKET" --results-bucket "$ASR_RESULTS_BUCKET" \
    --corpus-prefix "${ASR_CORPUS_PREFIX:-corpus/}" --notebook "$EXECUTED" \
    --reason "$1"
}

run() {
  trap stop_instance EXIT
  trap 'exit 143' TERM INT
  log "run $RUN_ID on $INSTANCE_NAME"
  if ! fetch_artifacts || ! prepare_kernel; then
    publish_failure "could not fetch artifacts from $ASR_ARTIFACTS or prepare the kernel"
    return 1
  fi
  local status=0
  run_notebook || status=$?
  if [ -f "$EXECUTED" ]; then
    aws s3 cp --only-show-errors "$EXECUTED" \
      "s3://$ASR_RESULTS_BUCKET/reports/$RUN_ID/transcribe_and_score.ipynb" \
      || log "ERROR: could not upload the executed notebook"
  fi
  if [ "$status" -ne 0 ]; then
    log "notebook failed with exit status $status"
    write_failure_csv "papermill exited with status $status" \
      || publish_failure "the notebook failed (status $status) and no failure CSV could be written"
    return "$status"
  fi
  log "run $RUN_ID complete"
}

: "${ASR_ARTIFACTS:?}" "${ASR_MEDIA_BUCKET:?}" "${ASR_RESULTS_BUCKET:?}" "${ASR_TOPIC_ARN:?}"
INSTANCE_NAME="$(instance_name)"
export INSTANCE_NAME

if [ "${1:-}" = "run" ]; then
  RUN_ID="$2"
  RUN_DIR="$WORK/runs/$RUN_ID"
  EXECUTED="$RUN_DIR/transcribe_and_score.output.ipynb"
  run
else
  RUN_ID="$(new_run_id)"
  mkdir -p "$WORK/runs/$RUN_ID"
  nohup bash "$0" run "$RUN_ID" >"$WORK/runs/$RUN_ID/run.log" 2>&1 &
  log "started run $RUN_ID in the background (pid $!); log: $WORK/runs/$RUN_ID/run.log"
fi
