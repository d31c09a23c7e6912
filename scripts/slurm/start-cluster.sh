#!/usr/bin/env bash
# Start a private, real single-node SLURM cluster with accounting:
#   mariadb -> munged -> slurmdbd -> (register cluster) -> slurmctld -> slurmd
# Everything (configs, keys, sockets, pids, logs, spool, DB files) lives under
# STATE_DIR, so nothing in /etc or /run is used or modified and several clusters
# could coexist. Must run as root (all daemons run as root, SlurmUser=root).
#
# Usage: start-cluster.sh [STATE_DIR]
#   STATE_DIR defaults to a fresh `mktemp -d /tmp/qbench-slurm.XXXX`. Reusing an
#   existing STATE_DIR keeps its database, munge key and slurm state.
# Stdout is only eval-able `export ...` lines (progress goes to stderr), so
#   eval "$(scripts/slurm/start-cluster.sh)"      or
#   source STATE_DIR/env.sh
# makes sbatch/squeue/sacct/... talk to this cluster. Stop it with
# scripts/slurm/stop-cluster.sh [STATE_DIR] [--clean].
#
# Env knobs: QBENCH_SLURM_WAIT_S (per-daemon start timeout, default 60).
set -euo pipefail

CURRENT_FILE=/tmp/qbench-slurm.current   # read by stop-cluster.sh when no dir is given
WAIT_S=${QBENCH_SLURM_WAIT_S:-60}
T0=$(date +%s%N)

log() { echo "start-cluster: $*" >&2; }
die() { echo "start-cluster: ERROR: $*" >&2; exit 1; }
elapsed() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)); }

[[ $EUID -eq 0 ]] || die "must run as root (daemons run as root, SlurmUser=root)"

# ---------------------------------------------------------------- packages
# Install only what is missing; apt is by far the slowest step, so skip it
# entirely when every binary we need is already present.
need_install=0
for bin in slurmctld slurmd slurmdbd sbatch sacct sacctmgr scontrol sinfo munged munge mungekey \
           mariadbd mariadb mariadb-admin mariadb-install-db; do
    command -v "$bin" >/dev/null 2>&1 || need_install=1
done
if (( need_install )); then
    log "installing slurm-wlm slurmdbd munge mariadb-server (apt) ..."
    # Keep postinst scripts from starting the *system* mariadb/munge/slurm
    # services (with /etc defaults) on hosts without a policy-rc.d of their own.
    added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends \
          slurm-wlm slurmdbd munge mariadb-server mariadb-client; } >&2 || rc=$?
    (( added_policy )) && rm -f /usr/sbin/policy-rc.d
    (( rc == 0 )) || die "apt-get install failed (rc=$rc)"
fi

T1=$(date +%s%N)   # daemon start-up is timed from here (apt excluded)

# ---------------------------------------------------------------- state dir
if [[ -n "${1:-}" ]]; then
    STATE_DIR=$1
    # Only a new/empty dir or one this script made before (we chmod and fill it).
    if [[ -d $STATE_DIR && -n $(ls -A "$STATE_DIR") && ! -f $STATE_DIR/etc/slurm.conf ]]; then
        die "$STATE_DIR is not empty and not a qbench slurm state dir"
    fi
    mkdir -p "$STATE_DIR"
else
    STATE_DIR=$(mktemp -d /tmp/qbench-slurm.XXXX)
fi
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
# slurm.conf values cannot hold whitespace
[[ $STATE_DIR != *[[:space:]]* ]] || die "STATE_DIR must not contain whitespace: '$STATE_DIR'"
# Readable, not writable, by others: munged refuses group/world-writable dirs
# around its key/socket, and non-root clients need to read slurm.conf.
# Secrets (munge.key, slurmdbd.conf, my.cnf, db.pass) are mode 600 themselves.
chmod 755 "$STATE_DIR"

ETC=$STATE_DIR/etc; RUN=$STATE_DIR/run; LOG=$STATE_DIR/log; VAR=$STATE_DIR/var
PIDS=$STATE_DIR/pids
MUNGE_SOCK=$RUN/munge.socket
DB_SOCK=$RUN/mariadb.sock
# unix socket paths are limited to 107 bytes
(( ${#MUNGE_SOCK} < 100 )) || die "STATE_DIR path too long for unix sockets: $STATE_DIR"

# running_in PIDSFILE: print "NAME PID" of the first recorded daemon that is
# still running (stop-cluster.sh empties the list).
running_in() {
    local pid name
    [[ -s $1 ]] || return 1
    while read -r pid name; do
        if [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
            echo "$name pid $pid"; return 0
        fi
    done < "$1"
    return 1
}
# Refuse to start twice on the same state dir.
if r=$(running_in "$PIDS"); then
    die "cluster in $STATE_DIR already running ($r); run stop-cluster.sh $STATE_DIR first"
fi
# Starting another cluster is allowed (own ports), but stop-cluster.sh without
# arguments will then only know the newest one.
if [[ -s $CURRENT_FILE ]]; then
    prev=$(cat "$CURRENT_FILE")
    if [[ $prev != "$STATE_DIR" ]] && r=$(running_in "$prev/pids"); then
        log "NOTE: cluster in $prev is still running ($r); stop it with stop-cluster.sh $prev"
    fi
fi
: > "$PIDS"
mkdir -p "$ETC" "$RUN" "$LOG" "$VAR/mysql" "$VAR/slurmctld" "$VAR/slurmd"
chmod 755 "$ETC" "$RUN"

# ---------------------------------------------------------------- helpers
# Every daemon gets this variable so stop-cluster.sh can prove a recorded PID
# really is ours (PIDs get reused) by reading /proc/PID/environ.
export QBENCH_SLURM_STATE_DIR=$STATE_DIR
export SLURM_CONF=$ETC/slurm.conf   # slurmdbd finds slurmdbd.conf next to it

started=()   # "pid:name:logfile", in start order (for cleanup on failure)
ok=0

# On any failure: show the log tails and stop what we already started,
# so a failed start never leaves half a cluster behind.
on_exit() {
    local rc=$?
    (( ok )) && return 0
    log "start FAILED (rc=$rc); stopping the daemons started so far; state kept in $STATE_DIR"
    local i entry pid name
    for (( i=${#started[@]}-1; i>=0; i-- )); do
        entry=${started[$i]}; pid=${entry%%:*}; name=${entry#*:}; name=${name%%:*}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for entry in "${started[@]}"; do
        pid=${entry%%:*}
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    exit "$rc"
}
trap on_exit EXIT

show_log() {   # show_log FILE...: last lines of daemon logs, for failure messages
    local f
    for f in "$@"; do
        [[ -s $f ]] && { echo "----- tail of $f -----"; tail -n 20 "$f"; echo "-----"; } >&2
    done
    return 0
}

# spawn NAME LOGFILE CMD...: start a daemon in the foreground mode of its own,
# detached (new session, no tty/stdio inherited, so `$(start-cluster.sh)` does
# not hang on it), and record its PID. LOGFILE is where the daemon logs (shown
# on failure); its stdout/stderr go to LOG/NAME.out (early fatal errors land there).
spawn() {
    local name=$1 logf=$2; shift 2
    setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
    local pid=$!
    started+=("$pid:$name:$logf")
    echo "$pid $name" >> "$PIDS"
}

# wait_for NAME DESCRIPTION CMD...: poll CMD until it succeeds; fail fast if
# the daemon NAME died, fail after WAIT_S seconds otherwise.
wait_for() {
    local name=$1 what=$2; shift 2
    local entry pid="" logf="" deadline
    for entry in "${started[@]}"; do
        if [[ $entry == *":$name:"* ]]; then pid=${entry%%:*}; logf=${entry##*:}; fi
    done
    deadline=$(( $(date +%s) + WAIT_S ))
    until "$@" >/dev/null 2>&1; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            show_log "$logf" "$LOG/$name.out"; die "$name exited while waiting for: $what"
        fi
        if (( $(date +%s) >= deadline )); then
            show_log "$logf" "$LOG/$name.out"; die "timed out after ${WAIT_S}s waiting for: $what"
        fi
        sleep 0.1
    done
}

# Pick free TCP ports so we never collide with a system slurm/mysql (or
# another qbench cluster). A port counts as busy if something accepts on it.
taken=" "
free_port() {
    local p=$1
    while [[ $taken == *" $p "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
        p=$((p + 1))
        (( p < $1 + 200 )) || die "no free port near $1"
    done
    echo "$p"
}
DB_PORT=$(free_port 3307);    taken+="$DB_PORT "
CTLD_PORT=$(free_port 6817);  taken+="$CTLD_PORT "
SLURMD_PORT=$(free_port 6818); taken+="$SLURMD_PORT "
DBD_PORT=$(free_port 6819);   taken+="$DBD_PORT "

# ---------------------------------------------------------------- mariadb
# Own datadir/socket/port, bound to 127.0.0.1 only; --no-defaults style
# (own my.cnf) so /etc/mysql is never read.
cat > "$ETC/my.cnf" <<EOF
[mariadbd]
datadir=$VAR/mysql
socket=$DB_SOCK
pid-file=$RUN/mariadb.pid
log-error=$LOG/mariadb.log
port=$DB_PORT
bind-address=127.0.0.1
user=root
skip-name-resolve
skip-log-bin
# values slurmdbd recommends (it logs an error otherwise); the pool is
# allocated lazily, so 512M costs nothing on this small DB
innodb_buffer_pool_size=512M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
# throwaway benchmark DB: trade durability for speed
innodb_flush_log_at_trx_commit=2

[client]
socket=$DB_SOCK
user=root
EOF
chmod 600 "$ETC/my.cnf"

if [[ ! -d $VAR/mysql/mysql ]]; then
    log "initialising mariadb datadir"
    mariadb-install-db --defaults-file="$ETC/my.cnf" --auth-root-authentication-method=socket \
        --skip-test-db >"$LOG/mariadb-install-db.log" 2>&1 \
        || { show_log "$LOG/mariadb-install-db.log"; die "mariadb-install-db failed"; }
fi
spawn mariadbd "$LOG/mariadb.log" mariadbd --defaults-file="$ETC/my.cnf"

# ---------------------------------------------------------------- munge
# Own key/socket/pid/log/seed; slurm finds the socket via AuthInfo=socket=...
[[ -s $ETC/munge.key ]] || mungekey --create --keyfile="$ETC/munge.key" >&2
chmod 600 "$ETC/munge.key"
spawn munged "$LOG/munged.log" munged --foreground --force \
    --key-file="$ETC/munge.key" --socket="$MUNGE_SOCK" --pid-file="$RUN/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$VAR/munged.seed"

# ---------------------------------------------------------------- configs
DB_PASS_FILE=$ETC/db.pass
[[ -s $DB_PASS_FILE ]] || { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DB_PASS_FILE"; }
chmod 600 "$DB_PASS_FILE"
DB_PASS=$(cat "$DB_PASS_FILE")

NCPU=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
# A bit below the real total: slurmd drains a node that has less than RealMemory.
REAL_MEM=$(( MEM_MB * 95 / 100 ))

cat > "$ETC/slurmdbd.conf" <<EOF
# generated by qbench scripts/slurm/start-cluster.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 "$ETC/slurmdbd.conf"   # slurmdbd wants it private: it holds StoragePass

# Empty spank config so the system /etc/slurm/plugstack.conf is not used.
: > "$ETC/plugstack.conf"

cat > "$ETC/slurm.conf" <<EOF
# generated by qbench scripts/slurm/start-cluster.sh; state in $STATE_DIR
ClusterName=qbench
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
MpiDefault=none
# no cgroups/systemd here: plain /proc based tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default memory request a job would get the whole node's memory
DefMemPerCPU=1024
ReturnToService=2
MailProg=/bin/true
PlugStackConfig=$ETC/plugstack.conf
KillWait=5
# accounting via slurmdbd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# clients/slurmctld authenticate to slurmdbd with the munge socket named here
# (AuthInfo is not used for that connection; without it they use /run/munge)
AccountingStoragePass=$MUNGE_SOCK
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
# all state/spool/log/pid paths under STATE_DIR
StateSaveLocation=$VAR/slurmctld
SlurmdSpoolDir=$VAR/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
chmod 644 "$ETC/slurm.conf"

# ---------------------------------------------------------------- wait db+munge
wait_for mariadbd "mariadb on $DB_SOCK" mariadb-admin --defaults-file="$ETC/my.cnf" ping
# (Re)create the slurmdbd DB user; TCP from 127.0.0.1 only.
mariadb --defaults-file="$ETC/my.cnf" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
    ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
    || { show_log "$LOG/mariadb.log"; die "could not create the slurm DB user"; }
wait_for munged "munged on $MUNGE_SOCK" munge --socket="$MUNGE_SOCK" --no-input

# ---------------------------------------------------------------- slurmdbd
spawn slurmdbd "$LOG/slurmdbd.log" slurmdbd -D
wait_for slurmdbd "slurmdbd on port $DBD_PORT" sacctmgr -n show cluster format=cluster

# Register the cluster before slurmctld starts, so it registers cleanly.
# Adding it also creates the 'root' account with user root in it, which is
# all root-submitted jobs need (no AccountingStorageEnforce), so no further
# accounts are added: each sacctmgr commit costs ~0.6 s of start time.
sacctmgr_q() {   # sacctmgr -i ..., output to a log, shown on failure
    sacctmgr -i "$@" >>"$LOG/sacctmgr.log" 2>&1 \
        || { show_log "$LOG/sacctmgr.log" "$LOG/slurmdbd.log"; die "sacctmgr $* failed"; }
}
if [[ -z $(sacctmgr -n -P show cluster qbench format=cluster 2>/dev/null) ]]; then
    sacctmgr_q add cluster qbench
fi
if [[ -z $(sacctmgr -n -P show assoc cluster=qbench user=root format=user 2>/dev/null) ]]; then
    sacctmgr_q add user root Account=root Cluster=qbench
fi

# ---------------------------------------------------------------- slurmctld + slurmd
spawn slurmctld "$LOG/slurmctld.log" slurmctld -D -i
wait_for slurmctld "slurmctld on port $CTLD_PORT" bash -c 'scontrol ping | grep -q UP'
spawn slurmd "$LOG/slurmd-localhost.log" slurmd -D -N localhost
node_idle() { [[ $(sinfo -h -n localhost -o %T 2>/dev/null) == idle ]]; }
wait_for slurmd "node localhost idle in sinfo" node_idle
wait_for slurmdbd "sacct to answer" sacct -n -X -S now

# ---------------------------------------------------------------- env
cat > "$STATE_DIR/env.sh" <<EOF
# source me: points slurm client commands at the qbench cluster in $STATE_DIR
export SLURM_CONF=$SLURM_CONF
export QBENCH_SLURM_STATE_DIR=$STATE_DIR
EOF
echo "$STATE_DIR" > "$CURRENT_FILE"
ok=1

log "cluster qbench up: daemons ready in $(elapsed "$T1")s (whole script $(elapsed "$T0")s); state dir $STATE_DIR (logs in $LOG)"
log "pids: $(awk '{printf "%s=%s ", $2, $1}' "$PIDS")"
echo "export QBENCH_SLURM_STATE_DIR=$STATE_DIR"
echo "export SLURM_CONF=$SLURM_CONF"
