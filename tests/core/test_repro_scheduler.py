"""``ethoflow repro``'s scheduler with fake stage commands (shell one-liners): DAG order, at most N at
once, stop on failure, job ids and logs in the failure message. No DVC, no Slurm."""

from __future__ import annotations

import io

import pytest

from ethoflow.repro import ReproError, failure_message, schedule


def fake(events, spec):
    """``command(stage)``: append ``start``/``end`` lines with a timestamp to ``events``; sleep; exit.

    ``spec[stage] = (seconds, exit status, extra line to print)``.
    """

    def command(stage):
        secs, rc, line = spec[stage]
        script = (
            f'echo "start {stage} $(date +%s.%N)" >> {events}; echo "{line}"; sleep {secs}; '
            f'echo "end {stage} $(date +%s.%N)" >> {events}; exit {rc}'
        )
        return ["sh", "-c", script]

    return command


def read_events(path):
    """``{stage: (start, end)}`` from the events file."""
    times: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        kind, stage, t = line.split()
        times.setdefault(stage, [0.0, 0.0])[kind == "end"] = float(t)
    return {s: tuple(v) for s, v in times.items()}


def overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def test_dag_order_and_at_most_n_at_once(tmp_path):
    #   a -> b, c, d (independent) -> e (needs b and c)
    order = ["a", "b", "c", "d", "e"]
    waits = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"a"}, "e": {"b", "c"}}
    spec = {s: (0.4, 0, f"stage {s}: working") for s in order}
    ev = tmp_path / "events"
    out = io.StringIO()
    res = schedule(order, waits, fake(ev, spec), 2, tmp_path / "logs", poll_s=0.02, out=out)
    assert [o.status for o in res] == ["ran"] * 5
    t = read_events(ev)
    for s, deps in waits.items():
        for d in deps:
            assert t[d][1] <= t[s][0], f"{s} started before {d} ended"
    assert overlap(t["b"], t["c"]), "b and c ran at the same time"
    assert not overlap(t["c"], t["d"]) or not overlap(t["b"], t["d"]), "never three at once"
    starts = sorted((v[0], s) for s, v in t.items())
    # b and c are launched together in plan order; their shells may log their start in either order
    assert [s for _, s in starts][0] == "a" and {s for _, s in starts[1:3]} == {"b", "c"}, "ready stages first"
    assert "stage b: working" in (tmp_path / "logs" / "b.log").read_text().splitlines()
    text = out.getvalue()
    assert "started  b" in text and "finished e in" in text
    assert failure_message(res) is None


def test_one_at_a_time_with_j1(tmp_path):
    order = ["x", "y"]
    spec = {s: (0.2, 0, "") for s in order}
    ev = tmp_path / "events"
    schedule(order, {"x": set(), "y": set()}, fake(ev, spec), 1, tmp_path / "logs", poll_s=0.02, out=io.StringIO())
    t = read_events(ev)
    assert not overlap(t["x"], t["y"])


def test_stop_on_failure_lets_running_stages_finish(tmp_path):
    # bad fails fast while slow runs; nothing starts after the failure (late is independent but queued,
    # after_bad needs bad); slow finishes and counts as ran.
    order = ["slow", "bad", "late", "after_bad"]
    waits = {"slow": set(), "bad": set(), "late": set(), "after_bad": {"bad"}}
    spec = {
        "slow": (1.0, 0, ""),
        "bad": (0.1, 3, "stage bad: submitted job 4242; logs: x.out, x.err"),
        "late": (0.1, 0, ""),
        "after_bad": (0.1, 0, ""),
    }
    ev = tmp_path / "events"
    res = {
        o.stage: o for o in schedule(order, waits, fake(ev, spec), 2, tmp_path / "logs", poll_s=0.02, out=io.StringIO())
    }
    assert res["slow"].status == "ran" and res["slow"].returncode == 0
    assert res["bad"].status == "failed" and res["bad"].returncode == 3 and res["bad"].job_ids == ["4242"]
    assert res["late"].status == "not started" and res["after_bad"].status == "not started"
    assert set(read_events(ev)) == {"slow", "bad"}
    msg = failure_message(list(res.values()), tmp_path)
    assert msg == "stage failed: bad (exit 3, Slurm job 4242; log logs/bad.log); 2 stages not started"
    assert "\n" not in msg


def test_unknown_dependency_and_cycle_are_errors(tmp_path):
    cmd = fake(tmp_path / "events", {"a": (0, 0, ""), "b": (0, 0, "")})
    with pytest.raises(ReproError, match="not planned: zz"):
        schedule(["a"], {"a": {"zz"}}, cmd, 2, tmp_path / "logs", out=io.StringIO())
    with pytest.raises(ReproError, match="cycle"):
        schedule(["a", "b"], {"a": {"b"}, "b": {"a"}}, cmd, 2, tmp_path / "logs", out=io.StringIO())
