"""What ``axial run`` shows while a run executes: one line per stage, in pipeline order.

Two sources feed the lines. The pipeline's ``echo`` callback tells every stage as it begins and
``done``/``total`` as the counted stages (``embed``, after each forward pass of the model;
``match``; ``judge``) go; the run row, polled every 0.2 s, is all there is when another worker
process executes the run. A stage without counts shows a pulsing bar and its elapsed
time; a line is finished, and its clock stopped, when the next stage begins.

Two lines come before the run: ``start`` (importing the clustering libraries and checking the
embedding cache: seconds on a busy machine, which would otherwise pass in silence) and
``model``, loading the model, only when some note has no cached vector: the ``embed`` line then
moves with the notes, not with the seconds the model takes to load (or, on first use of the
ONNX backend, to be exported).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from service.domain import RunStatus

if TYPE_CHECKING:
    from service.context import Services
    from service.storage.models import Project

STAGES = ("start", "model", "load", "embed", "match", "cluster", "judge", "store")
"""Every line ``axial run`` can show, in the order they happen."""
COUNTED = frozenset({"embed", "match", "judge"})
"""Stages whose ``done``/``total`` move as they go; the others pulse until they end."""
POLL_S = 0.2


class StageSeconds(ProgressColumn):
    """A stage's seconds: the pipeline's own measure once known, else the time on screen."""

    def render(self, task: Task) -> Text:
        seconds = task.fields.get("seconds")
        if seconds is None:
            seconds = task.finished_time if task.finished else task.elapsed
        return Text(f"{seconds or 0.0:6.1f} s", style="progress.elapsed")


class RunProgress:
    """The stage lines of one run; :meth:`update` is safe from any thread.

    Updates only move forward: a stage earlier than the current one (a stale read of the run
    row) and a ``done`` smaller than the one shown are ignored.
    """

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description:>8}"),
            BarColumn(),
            TextColumn("{task.fields[count]:>11}"),
            StageSeconds(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._current: str | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()

    @property
    def shown(self) -> list[str]:
        """The stages shown so far, in order."""
        return list(self._tasks)

    def update(self, stage: str, done: int, total: int) -> None:
        """The run is at ``stage``, ``done`` of ``total`` (counted stages only).

        A stage that begins is drawn at once, by the caller's thread: the pipeline tells its
        stages as they begin, and clustering's compiled kernels then hold the interpreter, so
        the refresh thread would not draw the ``cluster`` line until they let go.
        """
        if stage not in STAGES:
            return
        with self._lock:
            if self._current is not None and STAGES.index(stage) < STAGES.index(self._current):
                return
            began = stage != self._current
            if began:
                self._advance_to(stage)
            if stage in COUNTED and total > 0:
                task = self._tasks[stage]
                done = max(min(done, total), int(self.bar.tasks[task].completed))
                self.bar.update(task, total=total, completed=done, count=f"{done}/{total}")
        if began:
            self.bar.refresh()

    def finish(
        self, ok: bool, timings: dict[str, float] | None = None, failed_at: str | None = None
    ) -> None:
        """The run ended: every line completed (``ok``), or the failed stage marked failed.

        ``failed_at`` is the stage the run records as failed (the poll may not have seen it
        begin); ``timings`` (the run's seconds per stage) replace the seconds seen on screen: a
        stage that holds the interpreter (clustering's compiled kernels) stops the redraws.
        """
        with self._lock:
            if ok:
                self._advance_to(None)
            else:
                if failed_at in STAGES and failed_at != self._current:
                    here = STAGES.index(self._current) if self._current else -1
                    if STAGES.index(failed_at) > here:
                        self._advance_to(failed_at)
                self._close(ok=False)
            self._current = None
            for stage, seconds in (timings or {}).items():
                if stage in self._tasks and isinstance(seconds, int | float):
                    self.bar.update(self._tasks[stage], seconds=float(seconds))

    def _advance_to(self, stage: str | None) -> None:
        """Close the current line, show the stages passed between two reads, open ``stage``.

        A successful run goes through every stage of the pipeline; one too short to be seen
        by the poll (``load``, often ``match`` and ``store``) still gets its line.
        """
        self._close(ok=True)
        start = STAGES.index(self._current) + 1 if self._current else STAGES.index("load")
        start = max(start, STAGES.index("load"))  # start and model are shown only when they run
        end = STAGES.index(stage) if stage is not None else len(STAGES)
        for passed in STAGES[start:end]:
            self._current = passed
            self._tasks[passed] = self.bar.add_task(passed, total=None, count="")
            self._close(ok=True)
        self._current = stage
        if stage is not None:
            self._tasks[stage] = self.bar.add_task(stage, total=None, count="")

    def _close(self, ok: bool) -> None:
        if self._current is None:
            return
        task = self._tasks[self._current]
        state = self.bar.tasks[task]
        if ok:
            total = int(state.total) if state.total else 1
            count = f"{total}/{total}" if self._current in COUNTED and state.total else "done"
            self.bar.update(task, total=total, completed=total, count=count)
        else:
            self.bar.update(task, total=state.total or 1, count="failed")
        self.bar.stop_task(task)


def needs_model(services: Services, project_id: int, batch_id: int | None) -> bool:
    """Whether a run of this scope will embed anything (some note has no cached vector)."""
    from service.runs.embedding_cache import load_cached
    from service.runs.pipeline import select_notes

    notes = select_notes(services, project_id, batch_id)
    if not notes.hashes:
        return False
    cached = load_cached(services.db, services.embedder.model_id, notes.hashes)
    return any(digest not in cached for digest in notes.hashes)


def load_model(services: Services, view: RunProgress) -> None:
    """Load the embedding model (and run it once) under a ``model`` line of its own.

    A model that fails to load is marked failed here and left to the run, which records why.
    """
    view.update("model", 0, 0)
    try:
        services.embedder.embed_batch(["load the model and run it once"])
    except Exception:  # the run's embed stage fails the same way and stores the message
        view.finish(ok=False)


def run_with_progress(
    services: Services,
    project: Project,
    batch_id: int | None,
    seed: int | None,
    console: Console,
    created_by: str = "cli",
) -> int:
    """Create a run of ``project`` and execute it here (or follow the worker that took it)."""
    from service.runs.create import create_run
    from service.runs.worker import claim_run

    with RunProgress(console) as view:
        view.update("start", 0, 0)
        if needs_model(services, project.id, batch_id):
            load_model(services, view)
        run = create_run(services, project, batch_id=batch_id, seed=seed, created_by=created_by)
        follow_run(services, run.id, view, execute=claim_run(services, run.id))
    return run.id


def follow_run(services: Services, run_id: int, view: RunProgress, execute: bool) -> RunStatus:
    """Execute the claimed run in a thread (``execute``) or follow a worker's; its final status."""
    from service.runs.create import get_run
    from service.runs.pipeline import execute_run

    thread: threading.Thread | None = None
    if execute:  # a failure is recorded on the run by execute_run itself
        thread = threading.Thread(
            target=execute_run,
            args=(services, run_id),
            kwargs={"echo": view.update},
            name="axial-run",
            daemon=True,
        )
        thread.start()
    while True:
        current = get_run(services, run_id)
        if current.status == RunStatus.running:
            view.update(current.stage, current.done, current.total)
        finished = current.status not in (RunStatus.queued, RunStatus.running)
        if finished or (thread is not None and not thread.is_alive()):
            break
        time.sleep(POLL_S)
    if thread is not None:
        thread.join()
    final = get_run(services, run_id)
    status = RunStatus(final.status)
    view.finish(status == RunStatus.succeeded, dict(final.timings or {}), final.stage)
    return status
