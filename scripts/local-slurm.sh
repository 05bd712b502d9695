#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the dispatch tests and for trying
# `ETHOFLOW_EXECUTOR=slurm` without a real cluster.
#
#   scripts/local-slurm.sh start    install (Debian packages, needs root) and start munged, slurmctld, slurmd
#   scripts/local-slurm.sh stop     stop the daemons
#   scripts/local-slurm.sh status   print sinfo, exit 0 when the node answers and is idle/mixed/allocated
#
# The configuration is written to /etc/slurm/slurm.conf from this host's CPUs and memory, with no GPU
# GRES and no cgroup plugins (containers rarely allow them). State lives under /var/lib/ethoflow-slurm.
set -euo pipefail

STATE_DIR=/var/lib/ethoflow-slurm
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/ethoflow-slurm
PKGS=(slurmctld slurmd slurm-client munge)

log() { echo "[local-slurm] $*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (it installs Debian packages and starts system daemons)"
    exit 1
  fi
}

install_packages() {
  local missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d stops the packages' own init scripts from starting daemons with the default config.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
}

write_config() {
  local host cpus mem_mb
  host=$(hostname -s)
  cpus=$(nproc)
  # RealMemory in MB, leaving 1 GiB for the system.
  mem_mb=$(awk '/MemTotal/ {printf "%d", $2/1024 - 1024}' /proc/meminfo)
  mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR"
  chown -R slurm:slurm "$STATE_DIR/ctld" "$LOG_DIR" 2>/dev/null || true
  cat >"$CONF_DIR/slurm.conf" <<EOF
# Written by ethoflow scripts/local-slurm.sh for a one-node test cluster.
ClusterName=ethoflow
SlurmctldHost=${host}
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=${STATE_DIR}/ctld
SlurmdSpoolDir=${STATE_DIR}/d
SlurmctldPidFile=${STATE_DIR}/slurmctld.pid
SlurmdPidFile=${STATE_DIR}/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Short timers so that time-limit tests finish quickly.
InactiveLimit=0
KillWait=5
MinJobAge=300
OverTimeLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=20
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  # Slurm 22.05 has no "disabled" cgroup plugin: with no cgroup.conf slurmd autodetects v1/v2 and,
  # with proctrack/linuxproc and task/none, uses it for nothing.
  rm -f "$CONF_DIR/cgroup.conf"
}

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi
  mkdir -p /etc/munge /var/run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown -R munge:munge /etc/munge /var/run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --force
}

wait_idle() {
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      return 0
    fi
    sleep 1
  done
  return 1
}

cmd_start() {
  need_root
  install_packages
  write_config
  start_munge
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -i
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  if ! wait_idle; then
    # A node left DOWN by an earlier run comes back with an explicit resume.
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    if ! wait_idle; then
      log "slurm did not come up; logs in $LOG_DIR"
      tail -n 20 "$LOG_DIR"/*.log >&2 || true
      exit 1
    fi
  fi
  log "running: $(sinfo -h -o '%P %D %T %c CPUs %m MB')"
}

cmd_stop() {
  need_root
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  log "stopped"
}

cmd_status() {
  if command -v sinfo >/dev/null && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    sinfo
    exit 0
  fi
  echo "slurm is not running (start it with: sudo scripts/local-slurm.sh start)"
  exit 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
