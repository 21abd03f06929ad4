#!/usr/bin/env bash
# Starts the clusters the backend tests dispatch to: two independent Slurm clusters on
# localhost (one slurmctld and one slurmd each, GPUs declared as GRES without device files)
# (cluster a: 8 GPUs of GRES type a800, cluster b: 8 of type a100) and a local Ray head with 4
# GPUs and 4 of the custom resource H100, then exports where they are.
#
#   source scripts/services-clusters.sh          # start (idempotent), then:
#       SUANLI_TEST_SLURM_CONFS=/tmp/suanli-clusters/a/slurm.conf:/tmp/suanli-clusters/b/slurm.conf
#       SUANLI_TEST_RAY_ADDRESS=http://127.0.0.1:8265
#       SUANLI_TEST_RAY_TOKEN_FILE=/tmp/suanli-clusters/ray/auth_token (Ray's token authentication)
#   bash scripts/services-clusters.sh stop       # stops everything this script started
#   bash scripts/services-clusters.sh stop-ctld a    # stops cluster a's controller only
#   bash scripts/services-clusters.sh start-ctld a   # starts it again (its saved state kept)
#
# Installs Debian's slurm-wlm and munge only if slurmctld is missing. Runs as root in a fresh
# container without systemd: a private munged (own socket and key), daemons found by their pid
# files, Ray's processes by the process group of `ray start --block`. Everything lives under
# $SUANLI_CLUSTERS_DIR (default /tmp/suanli-clusters). Ports: Slurm from $SUANLI_SLURM_PORT
# (default 6817: cluster a 6817-6818, cluster b 6827-6828), Ray from $SUANLI_RAY_PORT (6379)
# and $SUANLI_RAY_DASHBOARD_PORT (8265).
set -euo pipefail

SUANLI_CLUSTERS_DIR="${SUANLI_CLUSTERS_DIR:-/tmp/suanli-clusters}"
SUANLI_SLURM_PORT="${SUANLI_SLURM_PORT:-6817}"
SUANLI_RAY_PORT="${SUANLI_RAY_PORT:-6379}"
SUANLI_RAY_DASHBOARD_PORT="${SUANLI_RAY_DASHBOARD_PORT:-8265}"
_SC_DIR="$SUANLI_CLUSTERS_DIR"
_SC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_SC_RAY="${SUANLI_RAY_BIN:-$_SC_ROOT/.venv/bin/ray}"
_SC_CLUSTERS="a b"
_sc_gpu() { if [ "$1" = a ]; then echo a800; else echo a100; fi; } # cluster -> GRES type

_sc_fail() {
    echo "services-clusters.sh: $*" >&2
    return 1
}

_sc_alive() { # pid file -> whether its process runs
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

_sc_stop_pid() { # pid file [group]: TERM the process (or its group), wait, then KILL
    local pid
    [ -s "$1" ] || return 0
    pid="$(cat "$1")"
    if kill -0 "$pid" 2>/dev/null; then
        if [ "${2:-}" = group ]; then kill -TERM -- "-$pid" 2>/dev/null || true; else kill -TERM "$pid" || true; fi
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            if [ "${2:-}" = group ]; then kill -KILL -- "-$pid" 2>/dev/null || true; else kill -KILL "$pid" || true; fi
        fi
    fi
    rm -f "$1"
}

_sc_install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] || { _sc_fail "slurm-wlm is not installed and this is not root"; return 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm slurmctld slurmd munge >/dev/null
}

_sc_munge() {
    local d="$_SC_DIR/munge"
    mkdir -p "$d"
    chmod 700 "$d"
    if [ ! -s "$d/munge.key" ]; then
        dd if=/dev/urandom of="$d/munge.key" bs=1 count=1024 status=none
        chmod 400 "$d/munge.key"
    fi
    _sc_alive "$d/munged.pid" && return 0
    munged --force --socket="$d/munge.socket" --key-file="$d/munge.key" \
        --pid-file="$d/munged.pid" --log-file="$d/munged.log" --seed-file="$d/munged.seed"
}

# cluster name, controller port, GPU type: writes <dir>/slurm.conf and gres.conf
_sc_write_conf() {
    local c="$1" port="$2" gpu="$3" d="$_SC_DIR/$1" node
    # a running cluster keeps the configuration it was started with
    if _sc_alive "$d/slurmctld.pid" && [ -s "$d/slurm.conf" ]; then return 0; fi
    node="$(hostname -s)"
    mkdir -p "$d/state" "$d/spool" "$d/dev"
    # Slurm drops a GPU without a File; these empty files stand for the 8 devices (with
    # task/none nothing is bound to them, no real device is needed)
    touch "$d"/dev/gpu{0..7}
    cat >"$d/slurm.conf" <<EOF
# Suanli test cluster $c (scripts/services-clusters.sh); one controller, one node.
ClusterName=suanli-$c
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$_SC_DIR/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MessageTimeout=5
SlurmctldTimeout=10
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=600
KillWait=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 RealMemory=4096 Gres=gpu:$gpu:8 State=UNKNOWN
PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$d/gres.conf" <<EOF
# 8 GPUs declared on placeholder files (no real device exists here)
NodeName=$node Name=gpu Type=$gpu File=$d/dev/gpu[0-7]
EOF
}

_sc_ctld_start() {
    local d="$_SC_DIR/$1"
    _sc_alive "$d/slurmctld.pid" && return 0
    SLURM_CONF="$d/slurm.conf" slurmctld -f "$d/slurm.conf"
    for _ in $(seq 50); do
        SLURM_CONF="$d/slurm.conf" scontrol ping 2>/dev/null | grep -q UP && return 0
        sleep 0.2
    done
    _sc_fail "slurmctld of cluster $1 did not answer; see $d/slurmctld.log"
}

_sc_slurmd_start() {
    local d="$_SC_DIR/$1"
    _sc_alive "$d/slurmd.pid" && return 0
    SLURM_CONF="$d/slurm.conf" slurmd -f "$d/slurm.conf"
}

_sc_wait_idle() {
    local d="$_SC_DIR/$1"
    for _ in $(seq 100); do
        SLURM_CONF="$d/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && return 0
        sleep 0.2
    done
    _sc_fail "the node of cluster $1 did not become idle; see $d/slurmd.log"
}

_sc_ray_start() {
    local d="$_SC_DIR/ray"
    mkdir -p "$d"
    _sc_alive "$d/ray.pid" && [ -s "$d/address" ] && return 0
    [ -x "$_SC_RAY" ] || { _sc_fail "no ray at $_SC_RAY (pip install -e . first)"; return 1; }
    # token authentication with a token of its own (not the user's ~/.ray/auth_token)
    [ -s "$d/auth_token" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$d/auth_token")
    RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$d/auth_token" setsid "$_SC_RAY" start --head --block --disable-usage-stats \
        --node-ip-address=127.0.0.1 --port="$SUANLI_RAY_PORT" \
        --dashboard-host=127.0.0.1 --dashboard-port="$SUANLI_RAY_DASHBOARD_PORT" \
        --ray-client-server-port=$((SUANLI_RAY_PORT + 1)) \
        --dashboard-agent-listen-port=$((SUANLI_RAY_PORT + 2)) \
        --num-cpus=4 --num-gpus=4 --resources='{"H100": 4}' \
        --temp-dir="$d/tmp" >"$d/ray.log" 2>&1 </dev/null &
    echo $! >"$d/ray.pid"
    echo "http://127.0.0.1:$SUANLI_RAY_DASHBOARD_PORT" >"$d/address"
    for _ in $(seq 300); do
        "$(dirname "$_SC_RAY")/python" - "$d/auth_token" "$SUANLI_RAY_DASHBOARD_PORT" <<'PY' 2>/dev/null && return 0
import sys, urllib.request
token = open(sys.argv[1]).read().strip()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[2]}/api/version",
                             headers={"Authorization": f"Bearer {token}"})
urllib.request.urlopen(req, timeout=2)
PY
        _sc_alive "$d/ray.pid" || break
        sleep 0.2
    done
    _sc_fail "the Ray head did not answer on $SUANLI_RAY_DASHBOARD_PORT; see $d/ray.log"
}

_sc_start() {
    _sc_install || return 1
    mkdir -p "$_SC_DIR"
    _sc_munge || return 1
    local i=0 c
    for c in $_SC_CLUSTERS; do
        _sc_write_conf "$c" $((SUANLI_SLURM_PORT + 10 * i)) "$(_sc_gpu "$c")" || return 1
        _sc_ctld_start "$c" || return 1
        _sc_slurmd_start "$c" || return 1
        i=$((i + 1))
    done
    for c in $_SC_CLUSTERS; do _sc_wait_idle "$c" || return 1; done
    _sc_ray_start || return 1
    export SUANLI_TEST_SLURM_CONFS="$_SC_DIR/a/slurm.conf:$_SC_DIR/b/slurm.conf"
    SUANLI_TEST_RAY_ADDRESS="$(cat "$_SC_DIR/ray/address")"
    export SUANLI_TEST_RAY_ADDRESS
    export SUANLI_TEST_RAY_TOKEN_FILE="$_SC_DIR/ray/auth_token"
    export SUANLI_TEST_CLUSTERS_SCRIPT="$_SC_ROOT/scripts/services-clusters.sh"
    echo "services-clusters.sh: Slurm clusters a, b ($SUANLI_TEST_SLURM_CONFS), Ray at $SUANLI_TEST_RAY_ADDRESS" >&2
}

_sc_stop() {
    local c
    _sc_stop_pid "$_SC_DIR/ray/ray.pid" group
    for c in $_SC_CLUSTERS; do
        _sc_stop_pid "$_SC_DIR/$c/slurmd.pid"
        _sc_stop_pid "$_SC_DIR/$c/slurmctld.pid"
    done
    _sc_stop_pid "$_SC_DIR/munge/munged.pid"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then # run, not sourced: an action
    case "${1:-start}" in
    start) _sc_start ;;
    stop) _sc_stop ;;
    stop-ctld) _sc_stop_pid "$_SC_DIR/${2:?cluster}/slurmctld.pid" ;;
    start-ctld) _sc_ctld_start "${2:?cluster}" ;;
    *) _sc_fail "unknown action ${1}: start, stop, stop-ctld C or start-ctld C"; exit 2 ;;
    esac
else
    _sc_start || return 1
fi
