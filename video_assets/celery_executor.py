"""dagster-celery's executor, plus what it lacks when a worker dies under a step.

dagster-celery waits for each step's Celery result. Two gaps, both closed here:
- When the whole worker dies (SIGKILL, a lost machine) nobody writes a result: the run would wait
  forever and keep its `gpu` slot. So every running step's worker is asked for its active tasks
  (`task_track_started` records which worker started a task); a worker that does not list the task
  LOST_AFTER_MISSES times in a row, WORKER_CHECK_INTERVAL_S apart, has lost it (CeleryWorkerLost).
- When a task ends in an error instead of the step's events (the process running it was killed,
  e.g. by the OOM killer: WorkerLostError), dagster-celery stops submitting steps but never skips
  the ones already runnable, so the run never ends (seen with dagster-celery 0.29.27).
Both become what a failing step reports itself: a STEP_FAILURE event, so the step's pool slot is
freed at once, its downstream steps are skipped, independent steps finish and the run fails.
"""

import time

from celery.exceptions import TaskRevokedError
from dagster import executor, multiple_process_executor_requirements
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor, _submit_task

from video_assets.dagster_private import RetryMode, serialized_step_failure

WORKER_CHECK_INTERVAL_S = 5.0
WORKER_CHECK_TIMEOUT_S = 2.0
LOST_AFTER_MISSES = 2
# The longest a dead worker's step keeps its slot claimed: the misses, each check's wait for an
# answer, and dagster-celery's 1 s loop tick.
LOST_WORKER_BOUND_S = LOST_AFTER_MISSES * (WORKER_CHECK_INTERVAL_S + WORKER_CHECK_TIMEOUT_S) + 1


class CeleryWorkerLost(RuntimeError):
    """The worker that started a step's task no longer runs it and wrote no result."""


class _ActiveTasks:
    """Worker name -> ids of the tasks it runs now, asked over the broker; answers are shared by the
    steps of one run for WORKER_CHECK_INTERVAL_S."""

    def __init__(self, app):
        self.app = app
        self.answers: dict[str, tuple[float, set[str] | None]] = {}

    def of(self, worker: str) -> set[str] | None:
        """None when the worker does not answer."""
        asked = self.answers.get(worker)
        if asked is None or time.monotonic() - asked[0] >= WORKER_CHECK_INTERVAL_S:
            reply = self.app.control.inspect(destination=[worker], timeout=WORKER_CHECK_TIMEOUT_S).active() or {}
            tasks = {task["id"] for task in reply[worker]} if worker in reply else None
            asked = self.answers[worker] = (time.monotonic(), tasks)
        return asked[1]


class _WatchedResult:
    """The AsyncResult dagster-celery polls (ready, get, revoke); a lost task yields a STEP_FAILURE."""

    def __init__(self, result, active: _ActiveTasks, context, step):
        self.result, self.active, self.context, self.step = result, active, context, step
        self.checked_at = time.monotonic()
        self.misses = 0
        self.lost: str | None = None

    def ready(self) -> bool:
        if self.lost or self.result.ready():
            return True
        if time.monotonic() - self.checked_at < WORKER_CHECK_INTERVAL_S:
            return False
        self.checked_at = time.monotonic()
        if self.result.state != "STARTED":  # still queued: no worker has it yet
            return False
        worker = (self.result.info or {}).get("hostname")
        tasks = self.active.of(worker) if worker else set()
        if tasks is not None and self.result.id in tasks:
            self.misses = 0
            return False
        if self.result.ready():  # finished between the two questions
            return True
        self.misses += 1
        if self.misses >= LOST_AFTER_MISSES:
            answer = "does not answer" if tasks is None else "no longer lists it"
            self.lost = (
                f"Celery worker {worker} started task {self.result.id} (step {self.step.key}) but {answer} "
                f"({self.misses} checks {WORKER_CHECK_INTERVAL_S:.0f} s apart) and wrote no result: the worker died "
                "or was killed while it ran the step, whose output was not written. Run the video again."
            )
        return self.lost is not None

    def get(self) -> list[str]:
        try:
            if self.lost:
                raise CeleryWorkerLost(self.lost)
            return self.result.get()
        except TaskRevokedError:  # the run is being cancelled: dagster-celery handles it
            raise
        except Exception as exc:
            worker = getattr(self.result, "worker", None) or "a Celery worker"
            message = str(exc) if isinstance(exc, CeleryWorkerLost) else (
                f"the task of step {self.step.key} on {worker} ended without the step's result "
                f"({type(exc).__name__}: {exc}), so it counts as failed. Run the video again."
            )  # fmt: skip
            step_context = self.context.for_step(self.step)
            return [serialized_step_failure(step_context, f'Step "{self.step.key}" failed: {message}')]

    def revoke(self, *args, **kwargs):
        return self.result.revoke(*args, **kwargs)


class WatchedCeleryExecutor(CeleryExecutor):
    def execute(self, plan_context, execution_plan):
        answers: dict[int, _ActiveTasks] = {}

        def submit(app, context, step, queue, priority, known_state):
            result = _submit_task(app, context, step, queue, priority, known_state)
            active = answers.setdefault(id(app), _ActiveTasks(app))
            return _WatchedResult(result, active, context, step)

        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)


@executor(name="celery", config_schema=CELERY_CONFIG, requirements=multiple_process_executor_requirements())
def watched_celery_executor(init_context):
    """dagster-celery's `celery_executor` (same configuration) whose steps fail when their worker dies."""
    config = init_context.executor_config
    return WatchedCeleryExecutor(
        broker=config.get("broker"),
        backend=config.get("backend"),
        config_source=config.get("config_source"),
        include=config.get("include"),
        retries=RetryMode.from_config(config["retries"]),
    )
