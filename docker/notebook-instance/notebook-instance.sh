#!/usr/bin/env bash
# The notebook-instance container's commands (installed as /usr/local/bin/notebook-instance).
#
#   notebook-instance idle                      the default: wait for lifecycle hooks
#   notebook-instance run-hook EVENT NAME [ARN] run a lifecycle script read from stdin
#   notebook-instance health                    can this instance run the notebook?
#
# The twin's notebook host runs a hook with one command, e.g. for StartNotebookInstance:
#
#   docker exec -i asr-monitor-notebook-instance \
#       notebook-instance run-hook on-start my-instance < on-start.sh
#
# run-hook does what SageMaker does around an OnStart/OnCreate script: writes the instance
# metadata file, runs the script as root from "/", fails it after 5 minutes, and exits with the
# script's status (124: timed out). Its output is streamed while it runs. What the script
# backgrounds keeps running after run-hook returns, as on a real instance, and ends when the
# instance stops (docker restart asr-monitor-notebook-instance).
set -euo pipefail

SAGEMAKER_HOME_DIR=${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}
METADATA_FILE=${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}
HOOK_DIR=${LIFECYCLE_HOOK_DIR:-/var/log/lifecycle-config}
HOOK_TIMEOUT=${LIFECYCLE_HOOK_TIMEOUT:-300}
ACCOUNT_ID=${NOTEBOOK_ACCOUNT_ID:-123456789012}
PROFILE_FILE=${NOTEBOOK_PROFILE_FILE:-/etc/profile.d/asr-monitor-twin.sh}

die() {
    echo "notebook-instance: $*" >&2
    exit 2
}

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Lifecycle scripts often switch user with a login shell (sudo -u ec2-user -i), which drops the
# environment. Writing the AWS settings where /etc/profile reads them keeps such shells on the
# twin's endpoints, as the instance role and region follow them on AWS.
write_profile() {
    {
        echo "# Written by notebook-instance at container start: the twin's AWS endpoints."
        env | sort | while IFS= read -r line; do
            case "$line" in
                AWS_*=*) printf 'export %q\n' "$line" ;;
            esac
        done
    } >"$PROFILE_FILE"
}

idle() {
    write_profile
    echo "notebook-instance: idle, waiting for lifecycle hooks (notebook-instance run-hook ...)"
    exec sleep infinity
}

run_hook() {
    [ $# -ge 2 ] && [ $# -le 3 ] || usage
    local event=$1 name=$2
    case "$event" in
        on-start | on-create) ;;
        *) die "unknown lifecycle event '$event' (expected on-start or on-create)" ;;
    esac
    # SageMaker's rule for instance names; it also keeps the metadata JSON well-formed.
    [[ "$name" =~ ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ ]] || die "invalid notebook instance name '$name'"
    local region=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
    local arn=${3:-arn:aws:sagemaker:$region:$ACCOUNT_ID:notebook-instance/${name,,}}
    [[ "$arn" =~ ^arn:[^\"\\]+$ ]] || die "invalid resource ARN '$arn'"

    mkdir -p "$(dirname "$METADATA_FILE")" "$HOOK_DIR" "$SAGEMAKER_HOME_DIR"
    printf '{"ResourceArn": "%s", "ResourceName": "%s"}\n' "$arn" "$name" >"$METADATA_FILE"

    local script="$HOOK_DIR/$event.sh" log="$HOOK_DIR/$event.log"
    # Replaced, not rewritten: a script still running from an earlier start keeps its own copy.
    cat >"$script.new"
    [ -s "$script.new" ] || die "no $event script on stdin"
    chmod 0755 "$script.new"
    mv -f "$script.new" "$script"
    : >"$log"

    # Executed as a file, so its shebang counts (and CRLF line endings fail, as on AWS). Output
    # goes to a file, not a pipe: what the script backgrounds may hold its stdout for hours, and
    # must not keep this command (and the caller's docker exec) waiting.
    (cd / && exec timeout --kill-after=10 "$HOOK_TIMEOUT" "$script") </dev/null >>"$log" 2>&1 &
    local pid=$!
    tail --lines=+1 --sleep-interval=0.2 --follow --pid="$pid" "$log" || true
    local status=0
    wait "$pid" || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "notebook-instance: $event hook of $name ran past ${HOOK_TIMEOUT}s and was stopped" >&2
        status=124
    fi
    exit "$status"
}

health() {
    command -v aws >/dev/null || die "aws CLI missing"
    command -v papermill >/dev/null || die "papermill missing"
    [ -d "$SAGEMAKER_HOME_DIR" ] || die "$SAGEMAKER_HOME_DIR missing"
    python -c 'import pipeline
from jupyter_client.kernelspec import KernelSpecManager
KernelSpecManager().get_kernel_spec("python3")'
}

command=${1:-idle}
[ $# -gt 0 ] && shift
case "$command" in
    idle) idle ;;
    run-hook) run_hook "$@" ;;
    health) health ;;
    *) usage ;;
esac
