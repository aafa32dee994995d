"""Concise console output for runs: one line per message; full errors stay in the run's event log."""

import logging
import sys

from dagster import Field, logger

# Steps skipped because an upstream step failed: the failure itself is what the reader needs.
_SKIPPED = ("STEP_SKIPPED", "STEP_UPSTREAM_OUTPUT_NOT_AVAILABLE")


class ConciseFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = str(meta.get("orig_message") or record.getMessage())
        event = meta.get("dagster_event")
        if event is not None and event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.user_failure_data
            message = error.description if error and error.description else event.step_failure_data.error.message
        if record.levelno >= logging.ERROR:
            message = message.strip().splitlines()[0] if message.strip() else message
        step = meta.get("step_key") or meta.get("job_name") or "run"
        return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():7} {step}: {message}"


def _not_skipped(record: logging.LogRecord) -> bool:
    meta = getattr(record, "dagster_meta", None) or {}
    event = meta.get("dagster_event")
    if event is not None and event.event_type_value in _SKIPPED:
        return False
    return not str(meta.get("orig_message") or record.getMessage()).startswith("Dependencies for step")


@logger(
    config_schema={"log_level": Field(str, is_required=False, default_value="INFO")},
    description="One line per message on stderr; stack traces are kept in the run's event log only.",
)
def concise_console_logger(init_context):
    level = logging.getLevelName(init_context.logger_config["log_level"].upper())
    out = logging.getLogger(f"video_timeline.run.{id(init_context)}")
    out.setLevel(level)
    out.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConciseFormatter())
    handler.addFilter(_not_skipped)
    out.addHandler(handler)
    return out
