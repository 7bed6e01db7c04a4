"""The checks of the SLURM integration test (.ci/slurm/test_slurm.sh), on two finished runs of the
same targets: one through ``--profile profiles/slurm``, one local.

1. Every job of the SLURM run was submitted to SLURM: Snakemake's log has a SLURM job id for each
   finished job, the plugin kept each job's SLURM log under that id, and slurmctld knows each id
   as a COMPLETED job (``scontrol show job``; MinJobAge keeps finished jobs for an hour).
2. The computation itself ran inside those jobs: the rule logs that record the device
   (slug.clip.models.pick_device) name the SLURM job id that the plugin reported for that rule.
3. Each concept's selection.json is byte-identical to the local run's (same threads per rule).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path


def fail(msg: str) -> None:
    print(f"[check] FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg: str) -> None:
    print(f"[check] ok: {msg}", file=sys.stderr)


def report_timing(text: str, finished: dict[int, str], submitted: dict[int, tuple[str, Path]]) -> None:
    """Print where the time went: inside the SLURM jobs, and between a job's end and Snakemake noticing."""
    noticed, now = {}, None
    for line in text.splitlines():
        m = re.match(r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", line.strip())
        if m:
            now = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        m = re.match(r"Finished jobid: (\d+)", line.strip())
        if m and now is not None:
            noticed[int(m.group(1))] = now
    ran, lag = [], []
    for j in finished:
        out = subprocess.run(["scontrol", "show", "job", submitted[j][0]], capture_output=True, text=True).stdout
        t = {k: datetime.fromisoformat(v) for k, v in re.findall(r"\b(StartTime|EndTime)=(\d{4}-\S+)", out)}
        if len(t) == 2 and j in noticed:
            ran.append((t["EndTime"] - t["StartTime"]).total_seconds())
            lag.append((noticed[j] - t["EndTime"]).total_seconds())
    if ran:
        print(f"[check] timing: {len(ran)} SLURM jobs ran {sum(ran):.0f} s in all (longest {max(ran):.0f} s); "
              f"Snakemake noticed their ends {sum(lag) / len(lag):.1f} s later on average "
              f"(max {max(lag):.0f} s, status polling)", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slurm-run", type=Path, required=True)
    ap.add_argument("--local-run", type=Path, required=True)
    ap.add_argument("--concepts", nargs="+", required=True)
    args = ap.parse_args()

    logs = sorted((args.slurm_run / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        fail(f"no Snakemake log in {args.slurm_run}/.snakemake/log")
    text = logs[-1].read_text()
    if "Falling back to 'sacct'" in text:
        fail("the plugin fell back to sacct for status checks (MinJobAge too low?)")

    # Snakemake job id -> (SLURM job id, SLURM log); Snakemake job id -> rule
    submitted = {int(j): (s, Path(p)) for j, s, p in
                 re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", text)}
    finished = {int(j): r for j, r in re.findall(r"Finished jobid: (\d+) \(Rule: (\w+)\)", text)}
    if not finished:
        fail(f"no finished job in {logs[-1]}")
    not_submitted = sorted(f"{r} (job {j})" for j, r in finished.items() if j not in submitted)
    if not_submitted:
        fail(f"jobs that finished without a SLURM job id: {', '.join(not_submitted)}")
    ok(f"{len(finished)} jobs finished, each with a SLURM job id "
       f"({', '.join(sorted(set(finished.values())))})")

    for j, rule in sorted(finished.items()):
        slurm_id, slurm_log = submitted[j]
        if not slurm_log.is_file():
            fail(f"rule {rule}: the plugin's log {slurm_log} of SLURM job {slurm_id} is missing")
        if slurm_log.name != f"{slurm_id}.log" or f"rule_{rule}" not in slurm_log.parts:
            fail(f"rule {rule}: SLURM log {slurm_log} is not .../rule_{rule}/.../{slurm_id}.log")
        state = subprocess.run(["scontrol", "show", "job", slurm_id], capture_output=True, text=True)
        m = re.search(r"JobState=(\S+)", state.stdout)
        if not m or m.group(1) != "COMPLETED":
            fail(f"rule {rule}: slurmctld reports SLURM job {slurm_id} as "
                 f"{m.group(1) if m else 'unknown'}: {state.stdout.strip() or state.stderr.strip()}")
    ok(f"{len(finished)} SLURM job logs in .snakemake/slurm_logs, and slurmctld lists every job as COMPLETED")
    try:  # information only
        report_timing(text, finished, submitted)
    except Exception as exc:  # noqa: BLE001
        print(f"[check] timing unavailable: {exc!r}", file=sys.stderr)

    # The rule logs record the device and the SLURM job that computed them.
    slurm_ids_by_rule: dict[str, set[str]] = {}
    for j, rule in finished.items():
        slurm_ids_by_rule.setdefault(rule, set()).add(submitted[j][0])
    checked = 0
    for rule_log in sorted((args.slurm_run / "results" / "logs").rglob("*.log")):
        m = re.search(r"computing on (\S+) \(.*SLURM job (\d+)\)", rule_log.read_text(errors="replace"))
        if m:  # results/logs/<concept>/<rule>.log or results/logs/<rule>/<model>.log
            ids = set().union(*(slurm_ids_by_rule.get(r, set()) for r in (rule_log.stem, rule_log.parent.name)))
            if m.group(2) not in ids:
                fail(f"{rule_log} names SLURM job {m.group(2)}, not one this run submitted")
            checked += 1
    if checked == 0:
        fail("no rule log records the device and the SLURM job id (slug.clip.models.pick_device)")
    ok(f"{checked} rule logs record their device and the SLURM job that computed them")

    for concept in args.concepts:
        a = args.slurm_run / "results" / concept / "selection.json"
        b = args.local_run / "results" / concept / "selection.json"
        for f in (a, b):
            if not f.is_file():
                fail(f"{f} is missing")
        if a.read_bytes() != b.read_bytes():
            fail(f"{concept}: selection.json differs between the SLURM run and the local run:\n"
                 f"SLURM: {json.dumps(json.loads(a.read_text()), sort_keys=True)}\n"
                 f"local: {json.dumps(json.loads(b.read_text()), sort_keys=True)}")
        sel = json.loads(a.read_text())
        ok(f"{concept}: selection.json identical to the local run's "
           f"({', '.join(f'{k}={sel[k]}' for k in list(sel)[:3])})")


if __name__ == "__main__":
    main()
