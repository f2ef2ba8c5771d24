"""experiments/parallel_runs.py: every job runs once, no more than `workers` at a time, a job
only after the one it needs, longest (lowest rank) first; the first error stops the rest."""
import functools
import json
import os
import time

import pytest

from experiments.parallel_runs import run_parallel


def record(folder, job):
    """A job that leaves when it started and ended (spawned workers import this module)."""
    start = time.time()
    if job == "fails":
        raise RuntimeError("job fails on purpose")
    time.sleep(5.0 if job == "slow" else 0.4)
    with open(os.path.join(folder, f"{job}.json"), "w") as f:
        json.dump({"start": start, "end": time.time(), "pid": os.getpid()}, f)
    return job.upper()


def read(folder, job):
    with open(os.path.join(folder, f"{job}.json")) as f:
        return json.load(f)


def test_every_job_runs_once_within_the_limit_and_after_what_it_needs(tmp_path):
    jobs = ["a", "b", "c", "d", "e"]
    done = []
    results = run_parallel(functools.partial(record, str(tmp_path)), jobs, workers=2, rank=jobs.index,
                           needs={"e": "a", "d": "c"}, on_done=lambda job, result: done.append(job))
    assert results == {j: j.upper() for j in jobs} and sorted(done) == jobs
    times = {j: read(tmp_path, j) for j in jobs}
    assert times["e"]["start"] >= times["a"]["end"] and times["d"]["start"] >= times["c"]["end"]
    for j in jobs:   # at no job's start were more than two running
        running = [k for k in jobs if times[k]["start"] <= times[j]["start"] < times[k]["end"]]
        assert len(running) <= 2, (j, running)
    assert len({t["pid"] for t in times.values()}) == len(jobs)   # a fresh process per job


def test_ready_jobs_start_in_rank_order(tmp_path):
    jobs = ["low", "mid", "high"]
    order = {"high": 0, "mid": 1, "low": 2}
    run_parallel(functools.partial(record, str(tmp_path)), jobs, workers=1, rank=order.get)
    starts = sorted(jobs, key=lambda j: read(tmp_path, j)["start"])
    assert starts == ["high", "mid", "low"]


def test_first_error_is_raised_and_stops_the_other_workers(tmp_path):
    with pytest.raises(RuntimeError, match="on purpose"):
        run_parallel(functools.partial(record, str(tmp_path)), ["slow", "fails", "later"], workers=2,
                     rank=["slow", "fails", "later"].index)
    time.sleep(5.5)   # the slow job would have finished by now had it not been stopped
    assert not (tmp_path / "slow.json").exists() and not (tmp_path / "later.json").exists()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="needs names jobs"):
        run_parallel(print, ["a"], workers=1, rank=str, needs={"a": "b"})
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_parallel(print, ["a"], workers=0, rank=str)
