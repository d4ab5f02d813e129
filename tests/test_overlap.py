"""Reading ahead and writing behind (stylebank.overlap): what the folder command relies on."""

import threading
import time

import pytest

from stylebank.errors import StyleBankError
from stylebank.overlap import SKIPPED, run_overlapped


def run(jobs, read=None, work=None, write=None, target=lambda job: job):
    """run_overlapped over ``jobs`` with recording stages; returns the outcomes in the order done() got them."""
    outcomes = []

    def done(job, outcome):
        outcomes.append((job, outcome.exception() or outcome.result()))

    run_overlapped(jobs, read or (lambda job: job), work or (lambda job, data: data), write or (lambda job, r: r),
                   done, target=target)
    return outcomes


def test_reading_and_writing_run_beside_the_work_and_results_come_in_order():
    events, lock = [], threading.Lock()

    def stage(name, seconds):
        def step(job, *data):
            with lock:
                events.append((name, job, "start", threading.current_thread().name))
            time.sleep(seconds)
            with lock:
                events.append((name, job, "end", threading.current_thread().name))
            return job
        return step

    # the slow write of job 0 (and its read) happen while job 1 is worked on, in other threads
    outcomes = run(range(4), read=stage("read", 0.05), work=stage("work", 0.05),
                   write=lambda job, r: stage("write", 0.2 if job == 0 else 0.01)(job))
    assert outcomes == [(job, job) for job in range(4)]
    position = {(name, job, edge): i for i, (name, job, edge, _) in enumerate(events)}
    assert position[("work", 1, "start")] < position[("write", 0, "end")]  # written behind
    assert position[("read", 1, "start")] < position[("work", 0, "end")]  # read ahead
    threads = {name: {thread for n, _, _, thread in events if n == name} for name in ("read", "work", "write")}
    assert threads["work"] == {threading.main_thread().name} and not threads["read"] & threads["write"]
    assert not threads["work"] & (threads["read"] | threads["write"])


def test_a_failed_stage_is_that_jobs_outcome_in_its_place_and_skips_write_nothing():
    def read(job):
        if job == 1:
            raise StyleBankError("cannot read 1")
        return job

    written = []
    outcomes = run(range(4), read=read, work=lambda job, data: SKIPPED if job == 2 else data,
                   write=lambda job, result: written.append(job) or result)
    assert [(job, str(o) if isinstance(o, Exception) else o) for job, o in outcomes] == [
        (0, 0), (1, "cannot read 1"), (2, SKIPPED), (3, 3)]
    assert written == [0, 3]


def test_a_job_waits_for_an_earlier_write_to_the_same_target():
    """Two inputs with one output name: the second sees the file the first wrote (and is skipped, say)."""
    files = set()

    def write(job, result):
        time.sleep(0.1)
        files.add(job % 2)
        return result

    outcomes = run(range(4), work=lambda job, data: SKIPPED if job % 2 in files else data, write=write,
                   target=lambda job: job % 2)
    assert outcomes == [(0, 0), (1, 1), (2, SKIPPED), (3, SKIPPED)]


def test_other_errors_stop_the_run_after_the_writes_under_way():
    written = []

    def write(job, result):
        if job == 1:
            raise OSError("disk full")
        time.sleep(0.05)
        written.append(job)
        return result

    with pytest.raises(OSError, match="disk full"):
        run(range(6), write=write)
    assert 0 in written and max(written) < 5
