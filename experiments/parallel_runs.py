"""Run independent jobs in worker processes, a few at a time, some only after another.

experiments/ablation.py --jobs N uses it: at the benchmark's scale (ST-GCN width 8, batch 64) one
run gains little from a second thread, so runs side by side, one thread each, finish the table
sooner than the same runs one after another (benchmarks/parallel_runs.py measures both).
Each job gets a fresh spawned process (a run's memory is given back when it ends; no forked
copy of the parent's threads). The first error stops every worker and is raised here, so an
interrupted table resumes as a sequential one does: rerun the same command.
"""
import multiprocessing
import queue
from typing import Callable, Dict, Hashable, Iterable, Optional


def run_parallel(work: Callable, jobs: Iterable[Hashable], workers: int, rank: Callable,
                 needs: Optional[Dict] = None, on_done: Optional[Callable] = None) -> dict:
    """{job: work(job)} for every job, at most `workers` at once in spawned processes.

    work: a picklable function of one job (a module-level function or a functools.partial of one).
    rank(job): among the jobs ready to start, the lowest rank starts first (longest first keeps
    the cores busy to the end). needs: {job: the job that must finish before it starts}, both in
    jobs. on_done(job, result) is called in this process as each job finishes."""
    jobs = list(jobs)
    needs = dict(needs or {})
    unknown = [j for j, first in needs.items() if j not in jobs or first not in jobs]
    if unknown:
        raise ValueError(f"needs names jobs that are not in jobs: {unknown}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    ready = sorted((j for j in jobs if j not in needs), key=rank)
    finished = queue.SimpleQueue()
    results, running = {}, 0
    pool = multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=1)
    completed = False
    try:
        while ready or running:
            while ready and running < workers:
                job = ready.pop(0)
                pool.apply_async(work, (job,), callback=lambda r, j=job: finished.put((j, r, None)),
                                 error_callback=lambda e, j=job: finished.put((j, None, e)))
                running += 1
            job, result, error = finished.get()
            running -= 1
            if error is not None:
                raise error
            results[job] = result
            if on_done is not None:
                on_done(job, result)
            ready = sorted(ready + [j for j, first in needs.items() if first == job], key=rank)
        completed = True
    finally:
        # after an error or Ctrl-C the other runs stop now; their checkpoints let them resume
        pool.close() if completed else pool.terminate()
        pool.join()
    return results
