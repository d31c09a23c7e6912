#!/usr/bin/env bash
# Stop the private SLURM cluster started by start-cluster.sh.
#
# Usage: stop-cluster.sh [STATE_DIR] [--clean]
#   STATE_DIR  defaults to the last one start-cluster.sh recorded in
#              /tmp/qbench-slurm.current
#   --clean    remove STATE_DIR afterwards (DB, logs, job state and all)
#
# Only the PIDs recorded in STATE_DIR/pids are signalled, and only after
# checking that each still is that daemon of *this* cluster (PIDs get reused).
# Jobs still in the queue are cancelled first, so no slurmstepd/job processes
# outlive the cluster. Stopping an already stopped cluster is not an error.
set -euo pipefail

CURRENT_FILE=/tmp/qbench-slurm.current
STOP_WAIT_S=${QBENCH_SLURM_STOP_WAIT_S:-30}

log() { echo "stop-cluster: $*" >&2; }
die() { echo "stop-cluster: ERROR: $*" >&2; exit 1; }

STATE_DIR="" clean=0
for arg in "$@"; do
    case $arg in
        --clean) clean=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) die "unknown option $arg" ;;
        *) [[ -z $STATE_DIR ]] || die "more than one STATE_DIR given"; STATE_DIR=$arg ;;
    esac
done
if [[ -z $STATE_DIR ]]; then
    [[ -s $CURRENT_FILE ]] || die "no STATE_DIR given and $CURRENT_FILE missing"
    STATE_DIR=$(cat "$CURRENT_FILE")
fi
[[ -d $STATE_DIR ]] || die "no such state dir: $STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
PIDS=$STATE_DIR/pids
# Refuse to act on (or rm -rf) a directory start-cluster.sh did not make.
[[ -f $PIDS && -f $STATE_DIR/etc/slurm.conf ]] || die "$STATE_DIR is not a qbench slurm state dir"

# alive PID: running and not a zombie (pid 1 here may reap orphans late).
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# ours PID NAME: PID is the daemon NAME that start-cluster.sh started for this
# STATE_DIR (same command name and our marker in its environment).
ours() {
    local pid=$1 name=$2
    alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null \
        | grep -qxF "QBENCH_SLURM_STATE_DIR=$STATE_DIR"
}

# Recorded daemons, newest first: slurmd, slurmctld, slurmdbd, munged, mariadbd
# (clients of a daemon go down before the daemon they talk to).
mapfile -t entries < <(tac "$PIDS")

# Cancel leftover jobs while slurmctld/slurmd are still up, and give them a
# bounded time to finish, so their slurmstepd/job processes exit cleanly.
ctld_up=0
for e in "${entries[@]}"; do
    read -r pid name <<<"$e"
    [[ $name == slurmctld ]] && ours "$pid" "$name" && ctld_up=1
done
if (( ctld_up )); then
    export SLURM_CONF=$STATE_DIR/etc/slurm.conf
    jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
        log "cancelling jobs still queued/running: $jobs"
        # shellcheck disable=SC2086  # word splitting wanted
        scancel $jobs 2>/dev/null || true
        deadline=$(( $(date +%s) + STOP_WAIT_S ))
        while [[ -n $(squeue -h -o %A 2>/dev/null) ]] && (( $(date +%s) < deadline )); do
            sleep 0.2
        done
        [[ -z $(squeue -h -o %A 2>/dev/null) ]] || log "WARNING: jobs still listed after ${STOP_WAIT_S}s"
    fi
    # Let slurmctld flush pending job records to slurmdbd (briefly), so sacct
    # is complete if this STATE_DIR is started again; otherwise they are
    # replayed from StateSaveLocation/dbd.messages on the next start.
    for _ in $(seq 50); do
        sdiag 2>/dev/null | grep -q 'DBD Agent queue size: 0$' && break
        sleep 0.1
    done
fi

stopped=()
for e in "${entries[@]}"; do
    read -r pid name <<<"$e"
    [[ -n ${pid:-} ]] || continue
    if ! ours "$pid" "$name"; then
        log "$name (pid $pid) not running"
        continue
    fi
    # One at a time: slurmctld saves state and flushes to slurmdbd on TERM,
    # slurmdbd needs mariadb while it shuts down.
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_WAIT_S ))
    while alive "$pid" && (( $(date +%s) < deadline )); do sleep 0.1; done
    if alive "$pid"; then
        log "WARNING: $name (pid $pid) ignored SIGTERM for ${STOP_WAIT_S}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    fi
    alive "$pid" && die "$name (pid $pid) is still alive"
    stopped+=("$name=$pid")
done
log "stopped: ${stopped[*]:-nothing was running}"

# Leave a clean record: nothing recorded means nothing running.
: > "$PIDS"

if (( clean )); then
    rm -rf -- "$STATE_DIR"
    log "removed $STATE_DIR"
    # Forget the "current" cluster if it was this one.
    if [[ -s $CURRENT_FILE && $(cat "$CURRENT_FILE") == "$STATE_DIR" ]]; then
        rm -f "$CURRENT_FILE"
    fi
fi
