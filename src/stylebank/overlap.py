"""Many images through one network with the reading and writing out of its way: each job is read (decoded) a
little ahead in one thread and written (encoded) behind in another while the network works on the current one
in the calling thread. Decoders, encoders and both inference engines release the GIL, so a folder costs about
the network's time rather than the sum of the three.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import StyleBankError

Job = TypeVar("Job")
# How many jobs are read ahead of the one being stylized: enough to hide a slow decode, few enough that memory
# stays at a handful of images.
READ_AHEAD = 2
SKIPPED = object()  # what work() returns for a job that has nothing to write


class RunStopping(Exception):
    """A write not tried because an earlier one failed and the run is ending with that failure."""


def finished(value: Any = None, error: BaseException | None = None) -> Future:
    """A Future that is already done: holding ``value``, or raising ``error``."""
    future: Future = Future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
    return future


def run_overlapped(jobs: Iterable[Job], read: Callable[[Job], Any], work: Callable[[Job, Any], Any],
                   write: Callable[[Job, Any], Any], done: Callable[[Job, Future], None],
                   target: Callable[[Job], Hashable] = id, ahead: int = READ_AHEAD) -> None:
    """For each job, in order: ``read(job)`` in a reader thread, up to ``ahead`` jobs ahead; ``work(job, data)``
    here; ``write(job, result)`` in a writer thread (skipped where work returned SKIPPED); then ``done(job,
    outcome)`` here, in job order, once the job's write has finished: ``outcome`` is a finished Future holding
    the write's value, SKIPPED, or the StyleBankError that a stage raised (other errors propagate, after the
    writes under way finish). A job whose ``target`` an earlier job writes starts its work after that write,
    so that work sees what the earlier job left (a file it wrote, say)."""
    upcoming = iter(jobs)
    write_failed = threading.Event()

    def guarded_write(job: Job, result: Any) -> Any:
        """``write``, unless an earlier write failed with an error that ends the run (a full disk): then the writes
        already queued behind it are not tried (the first failure is what the run reports)."""
        if write_failed.is_set():
            raise RunStopping
        try:
            return write(job, result)
        except StyleBankError:
            raise
        except BaseException:
            write_failed.set()
            raise

    reads: deque[tuple[Job, Future]] = deque()
    writes: deque[tuple[Job, Future]] = deque()
    last_write: dict[Hashable, Future] = {}

    def finish(block: bool) -> None:
        while writes and (block or writes[0][1].done()):
            job, future = writes.popleft()
            if not isinstance(future.exception(), (StyleBankError, type(None))):
                future.result()  # raises it
            done(job, future)

    with ThreadPoolExecutor(1, "stylebank-read") as reader, ThreadPoolExecutor(1, "stylebank-write") as writer:
        try:
            while True:
                while len(reads) < ahead and (job := next(upcoming, None)) is not None:
                    reads.append((job, reader.submit(read, job)))
                if not reads:
                    break
                job, data = reads.popleft()
                earlier = last_write.get(target(job))
                if earlier is not None:
                    earlier.exception()  # waits for it to finish
                try:
                    result = work(job, data.result())
                except StyleBankError as error:
                    outcome = finished(error=error)
                else:
                    outcome = finished(SKIPPED) if result is SKIPPED else writer.submit(guarded_write, job, result)
                writes.append((job, outcome))
                last_write[target(job)] = outcome
                finish(block=False)
            finish(block=True)
        finally:
            reader.shutdown(cancel_futures=True)
            writer.shutdown(cancel_futures=True)
