#!/usr/bin/env bash
# The SLURM integration test: a real one-node SLURM cluster on this machine, the workflow run on it
# through `--profile profiles/slurm`, and the result compared with a local run.
#
#   .ci/slurm/test_slurm.sh          the whole test (what `make test-slurm` and .ci/run call)
#   .ci/slurm/test_slurm.sh up       only start the cluster (prints how to use it) ...
#   .ci/slurm/test_slurm.sh down     ... and stop it again
#
# Steps: install Debian's slurm-wlm and munge when missing (needs root), create the munge key when
# missing, start munged (unless one already answers), slurmctld and slurmd with the config made from
# .ci/slurm/slurm.conf.in, run the tiny world (tests/configs/tiny.yaml: elon_musk and jeff_bezos)
# locally first and then through SLURM, with the same threads per rule; then check
# (.ci/slurm/check_run.py) that every job went through SLURM (job ids in Snakemake's log, the
# plugin's per-job logs, slurmctld's record) and that both selection.json files equal the local
# run's. The daemons this script started are stopped on every exit (trap). Idempotent: a rerun
# first stops whatever an interrupted earlier run left behind and starts from an empty scratch dir.
#
# Environment: SLUG_SLURM_DIR (scratch dir, default /tmp/slug-slurm-test), SLUG_SLURM_PORTS
# ("slurmctld slurmd", default "6817 6818"), PYTHON (default .venv/bin/python).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${SLUG_SLURM_DIR:-/tmp/slug-slurm-test}"
read -r CTLD_PORT SLURMD_PORT <<<"${SLUG_SLURM_PORTS:-6817 6818}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
REGISTRY="$DIR.daemons"  # "name pid" of each daemon this script started; outlives $DIR on purpose
TARGETS=(results/elon_musk/report.html results/jeff_bezos/report.html)
export SLURM_CONF="$DIR/etc/slurm.conf"
export NO_ALBUMENTATIONS_UPDATE=1

log() { printf '[test-slurm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install_slurm() {
    local missing=()
    for cmd in munged munge slurmctld slurmd sbatch squeue scontrol; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root (it installs slurm-wlm and munge with apt-get), or install them first: apt-get install slurm-wlm munge"
    log "installing slurm-wlm and munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

# Stop the daemons listed in the registry (this run's, or an interrupted earlier run's).
stop_daemons() {
    [ -f "$REGISTRY" ] || return 0
    if command -v scancel >/dev/null && [ -f "$SLURM_CONF" ]; then
        timeout 10 scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
    fi
    local name pid
    tac "$REGISTRY" | while read -r name pid; do  # reverse start order: slurmd, slurmctld, munged
        if [ "$name" = link ]; then  # "link <path>": a symlink this script made
            [ -L "$pid" ] && rm -f "$pid" && log "removed $pid"
        elif kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            log "stopping $name (pid $pid)"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$REGISTRY"
}

# Wait for a daemon's pid file and record the daemon in the registry.
register() {
    local name=$1 pidfile=$2 pid=""
    for _ in $(seq 100); do
        [ -s "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null && break
        pid=""; sleep 0.1
    done
    [ -n "$pid" ] || return 1
    echo "$name $pid" >>"$REGISTRY"
    log "started $name (pid $pid)"
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        install -d -o munge -g munge -m 0700 /etc/munge
        if command -v mungekey >/dev/null; then
            runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
            chown munge:munge /etc/munge/munge.key
        fi
        chmod 0400 /etc/munge/munge.key
    fi
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged is already running: using it (and leaving it running)"
        return 0
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged
    register munged /run/munge/munged.pid || die "munged did not start (see /var/log/munge/munged.log)"
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    # The node as slurmd sees it, so that slurmctld accepts its registration.
    read -r cpus mem < <(slurmd -C | awk '/^NodeName/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["CPUs"], v["RealMemory"] }')
    [ -n "$cpus" ] && [ -n "$mem" ] || die "could not read this node's CPUs and memory from 'slurmd -C'"
    mkdir -p "$DIR"/{etc,state,spool,run,log}
    sed -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" -e "s|@DIR@|$DIR|g" \
        -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        "$REPO/.ci/slurm/slurm.conf.in" >"$SLURM_CONF"
    log "cluster config $SLURM_CONF: node $host, CPUs=$cpus, RealMemory=$mem MB"
    # The config must also be where SLURM's clients look by default: the slurm-jobstep plugin
    # removes SLURM_CONF (with every SLURM_* variable but the job's ids) from the environment of the
    # `srun` it runs inside each job, which then fails with "Could not establish a configuration
    # source". Real clusters keep slurm.conf in /etc/slurm (or serve it "configless"), so a symlink
    # there makes this cluster behave like one. An existing config is never replaced.
    local etc=/etc/slurm/slurm.conf
    if [ -L "$etc" ] && [ "$(readlink "$etc")" = "$SLURM_CONF" ]; then
        :  # left by an interrupted run of this script
    elif [ -e "$etc" ] || [ -L "$etc" ]; then
        die "$etc exists: this machine has its own SLURM setup; the test brings up its own one-node cluster and will not replace that file (run the test on a machine without SLURM configured)"
    else
        mkdir -p /etc/slurm
        ln -s "$SLURM_CONF" "$etc"
    fi
    echo "link $etc" >>"$REGISTRY"
}

cluster_up() {
    [ "$(id -u)" -eq 0 ] || die "the test starts munged, slurmctld and slurmd: run it as root"
    install_slurm
    stop_daemons   # leftovers of an interrupted earlier run
    rm -rf "$DIR"
    write_config
    start_munge
    if timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CTLD_PORT" 2>/dev/null; then
        die "port $CTLD_PORT is in use (another slurmctld?): set SLUG_SLURM_PORTS='<ctld port> <slurmd port>'"
    fi
    slurmctld -c -f "$SLURM_CONF"
    register slurmctld "$DIR/run/slurmctld.pid" || { tail -20 "$DIR/log/slurmctld.log" >&2; die "slurmctld did not start"; }
    slurmd -f "$SLURM_CONF"
    register slurmd "$DIR/run/slurmd.pid" || { tail -20 "$DIR/log/slurmd.log" >&2; die "slurmd did not start"; }
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo --noheader --format=%t 2>/dev/null | head -1)
        [ "$state" = idle ] && break
        sleep 1
    done
    if [ "$state" != idle ]; then
        tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2
        die "the node is '$state', not idle, after 60 s"
    fi
    sinfo --Node --long >&2
}

on_exit() {
    local rc=$?
    stop_daemons
    if [ "$rc" -eq 0 ]; then
        rm -rf "$DIR"
    else
        log "FAILED (exit $rc); logs kept in $DIR (daemon logs in $DIR/log, runs in $DIR/slurm-run and $DIR/local-run)"
    fi
    exit "$rc"
}

run_test() {
    local t0 t_local t_slurm rc_local=0 rc_slurm=0
    [ -x "$PYTHON" ] || die "$PYTHON not found: run 'make install' first"
    "$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
        || die "snakemake-executor-plugin-slurm is not installed in $PYTHON's environment: run 'make install'"
    trap on_exit EXIT
    trap 'exit 130' INT TERM
    cluster_up
    local smk=("$PYTHON" -m snakemake --snakefile "$REPO/Snakefile")
    for run in slurm-run local-run; do
        mkdir -p "$DIR/$run"
        cp "$REPO/tests/configs/tiny.yaml" "$DIR/$run/config.yaml"
    done
    # One after the other: run side by side, the two pretrainings (2 threads each on a 2-core
    # machine) slowed each other about 30-fold (about 500 s each instead of about 15 s).
    t0=$(date +%s)
    log "local run (reference, --cores 2) in $DIR/local-run"
    "${smk[@]}" --directory "$DIR/local-run" --cores 2 "${TARGETS[@]}" >"$DIR/local-run.out" 2>&1 || rc_local=$?
    t_local=$(($(date +%s) - t0))
    log "SLURM run (--profile profiles/slurm, snakemake-executor-plugin-slurm $("$PYTHON" -c \
'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')) in $DIR/slurm-run"
    # The profile's first status check comes 10 s after a submission (+10 s per idle check): gentle
    # on a shared slurmctld. This cluster is ours and its jobs are short: check after 3 s.
    "${smk[@]}" --directory "$DIR/slurm-run" --profile "$REPO/profiles/slurm" \
        --slurm-init-seconds-before-status-checks 3 "${TARGETS[@]}" \
        >"$DIR/slurm-run.out" 2>&1 || rc_slurm=$?
    t_slurm=$(($(date +%s) - t0 - t_local))
    log "local run: exit $rc_local after ${t_local} s; SLURM run: exit $rc_slurm after ${t_slurm} s"
    [ "$rc_slurm" -eq 0 ] || { tail -60 "$DIR/slurm-run.out" >&2; die "the SLURM run failed (log: $DIR/slurm-run.out)"; }
    [ "$rc_local" -eq 0 ] || { tail -60 "$DIR/local-run.out" >&2; die "the local run failed (log: $DIR/local-run.out)"; }
    "$PYTHON" "$REPO/.ci/slurm/check_run.py" --slurm-run "$DIR/slurm-run" --local-run "$DIR/local-run" \
        --concepts elon_musk jeff_bezos
    log "PASSED in $(($(date +%s) - t0)) s of workflow time"
}

case "${1:-test}" in
    test) run_test ;;
    up)
        cluster_up
        log "cluster is up; use it with: export SLURM_CONF=$SLURM_CONF; stop it with: $0 down"
        ;;
    down) stop_daemons; rm -rf "$DIR" ;;
    *) die "usage: $0 [test|up|down]" ;;
esac
