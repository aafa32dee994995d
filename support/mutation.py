"""Deliberate breakages of the product's central promises, and the check that the test suite catches each one.

Run it with `make mutation` (or `.venv/bin/python -m scripts.mutation [--only NAME] [--jobs N]`).
For every breakage it copies the working tree, applies the breakage to the copy and runs there the tests
that guard the promise; they must fail. Before that it runs the same tests once on an unbroken copy,
where they must pass, and checks that the copy's code is what the tests import.

Each breakage is a list of exact (file, snippet, replacement) edits. A snippet that is missing, or
found more than once, stops the check with its name ("snippet not found"), so code that moved makes
the check fail loudly instead of passing on a breakage it no longer applies. tests/support/test_mutation.py
checks the snippets and the guard tests' names in every test run, so that is noticed without running this.

Why only the guarding tests run: if they fail in the broken copy, the whole suite (which contains them)
fails too, so "the guards catch it" implies "the suite catches it". Running the subset only keeps the
check short; it can only report a breakage as caught when a test really failed on it.

Why not a mutation-testing tool (mutmut, cosmic-ray): they generate thousands of small operator changes
across the code (`<` to `<=`, a constant off by one) and run the suite for each, which takes hours
with this suite's real-media Dagster tests, and none of them expresses a breakage like "the atomic
write becomes a direct write" or "the run key is dropped" that this list exists to guard.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TEST_TIMEOUT_S = 400  # for one breakage's guarding tests


@dataclass(frozen=True)
class Edit:
    file: str  # relative to the project root
    snippet: str  # must occur exactly once in the file
    replacement: str


@dataclass(frozen=True)
class Breakage:
    name: str
    breaks: str  # the promise it breaks, in words
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]  # pytest node ids that must fail on it


BREAKAGES = (
    Breakage(
        "score check always passes",
        "the reconstruction_score check fails below its threshold",
        (
            Edit(
                "video_assets/timeline.py",
                "passed=score.score >= settings.score_threshold,",
                "passed=True,",
            ),
        ),
        ("tests/video_assets/test_score_check.py",),
    ),
    Breakage(
        "second decode inside probing",
        "each video is decoded once (a second pass through demux() and packet.decode())",
        (
            Edit(
                "analyzers/probe.py",
                "        first = next(decoded, None)\n",
                "        first = next(decoded, None)\n"
                "        for packet in container.demux(stream):\n"
                "            packet.decode()\n",
            ),
        ),
        ("tests/video_assets/test_decode_once.py",),
    ),
    Breakage(
        "second decode through the codec context",
        "each video is decoded once, whichever PyAV call decodes (here the stream's codec context)",
        (
            Edit(
                "analyzers/probe.py",
                "        first = next(decoded, None)\n",
                "        first = next(decoded, None)\n"
                "        for packet in container.demux(stream):\n"
                "            stream.codec_context.decode(packet)\n",
            ),
        ),
        ("tests/video_assets/test_decode_once.py",),
    ),
    Breakage(
        "gpu pool claims not serialised",
        "one heavy step at a time in the gpu pool, even when two claims interleave",
        (
            Edit(
                "video_assets/dagster_private.py",
                "            with _claims_lock(self):\n",
                "            with open(os.devnull):  # no lock\n",
            ),
        ),
        (
            "tests/video_assets/test_gpu_pool.py::test_two_claims_interleaved_inside_dagsters_claim_get_the_one_slot_once",
        ),
    ),
    Breakage(
        "atomic write replaced by a direct write",
        "outputs are written to a temp file and renamed: a failed write keeps the previous value",
        (
            Edit(
                "video_assets/io_manager.py",
                "            tmp = self.storage.temp_path(name, context.asset_partition_key)\n",
                "            self.storage.temp_path(name, context.asset_partition_key)  # makes the folder\n"
                "            tmp = final  # written in place\n",
            ),
            Edit(
                "video_assets/io_manager.py",
                "                os.replace(tmp, final)\n"
                "            finally:\n"
                "                tmp.unlink(missing_ok=True)\n",
                "                pass\n            finally:\n                pass\n",
            ),
        ),
        ("tests/reliability/test_faults.py::test_a_write_that_fails_half_way_keeps_the_previous_value",),
    ),
    Breakage(
        "path sanitising removed",
        "partition keys are a slug of [a-z0-9_-] whatever the file name",
        (
            Edit(
                "analyzers/keys.py",
                'slug = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:40] or "video"',
                'slug = stem[:40] or "video"',
            ),
        ),
        (
            "tests/analyzers/test_keys.py::test_keys_are_safe_for_any_file_name",
            "tests/reliability/test_security.py::test_a_hostile_file_name_cannot_steer_any_output_out_of_the_data_root",
            "tests/video_assets/test_sensors.py::test_scan_skips_hidden_temporary_and_foreign_files_and_never_leaves_the_inbox",
        ),
    ),
    Breakage(
        "out-of-memory backoff disabled",
        "a heavy model that runs out of memory retries with smaller work",
        (
            Edit(
                "resources/heavy_models.py",
                """                if not is_out_of_memory(exc):
                    raise
""",
                """                raise
""",
            ),
        ),
        (
            "tests/resources/test_heavy_models.py::test_out_of_memory_shrinks_the_work_and_records_each_step",
            "tests/resources/test_heavy_models.py::test_out_of_memory_at_the_smallest_unit_fails_clearly_and_other_errors_are_not_retried",
        ),
    ),
    Breakage(
        "composed descriptions counted as observed",
        "a description composed from the other columns is derived: it counts 0 in the reconstruction score",
        (
            Edit(
                "analyzers/timeline.py",
                '                derived.add("description")\n',
                "                pass\n",
            ),
        ),
        (
            "tests/analyzers/test_timeline.py::test_a_composed_description_scores_below_a_model_description_by_its_confidence",
        ),
    ),
    Breakage(
        "run key dropped from the inbox sensor",
        "a file in the inbox is run once: its run request carries a run key",
        (
            Edit(
                "video_assets/sensors.py",
                'run_key=f"inbox:{key}:{item.signature}"',
                "run_key=None",
            ),
        ),
        ("tests/video_assets/test_sensors.py::test_each_settled_file_becomes_one_partition_and_one_run_request",),
    ),
    Breakage(
        "kept frames served after their store changed",
        "frames kept in memory are the stored ones: a store rewritten by a new decode is read again",
        (
            Edit(
                "analyzers/frame_cache.py",
                "    return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)\n",
                "    return (os.path.realpath(path),)\n",
            ),
        ),
        ("tests/analyzers/test_frame_cache.py::test_a_rewritten_store_is_read_again_not_taken_from_memory",),
    ),
)

# Breakages whose code is not on this branch yet (moved into BREAKAGES once it is).
PENDING: tuple[Breakage, ...] = ()


def snippet_problems(root: Path = PROJECT, breakages=BREAKAGES) -> list[str]:
    """What stops a breakage from applying as written: a missing file, a snippet found 0 or 2+ times,
    a guarding test that does not exist."""
    problems = []
    for b in breakages:
        for edit in b.edits:
            path = root / edit.file
            count = path.read_text().count(edit.snippet) if path.is_file() else 0
            if count != 1:
                what = "snippet not found" if count == 0 else f"snippet found {count} times"
                problems.append(f"{b.name}: {what} in {edit.file}: {edit.snippet.strip()[:80]!r}")
        for test in b.tests:
            file, _, name = test.partition("::")
            source = root / file
            if not source.is_file() or (name and not re.search(rf"^def {re.escape(name)}\(", source.read_text(), re.M)):
                problems.append(f"{b.name}: guarding test {test} does not exist")
    return problems


def copy_tree(root: Path, target: Path) -> Path:
    """The working tree as git sees it (tracked and untracked files, not ignored ones), with the project's
    .venv linked in: the edits of a breakage never touch the real tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (os.fsdecode(n) for n in listed)):
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(root / ".venv")
    return target


def apply(breakage: Breakage, tree: Path) -> None:
    for edit in breakage.edits:
        path = tree / edit.file
        text = path.read_text()
        if text.count(edit.snippet) != 1:
            raise ValueError(f"{breakage.name}: snippet not found exactly once in {edit.file}")
        path.write_text(text.replace(edit.snippet, edit.replacement))


def environment(tree: Path) -> dict[str, str]:
    # The project is installed editable from the real tree: PYTHONPATH puts the copy first, for pytest and
    # for every process the tests start (the CLI, run workers).
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Outcome:
    name: str
    returncode: int
    seconds: float
    failed: list[str]  # the tests that failed
    tail: str

    @property
    def caught(self) -> bool:
        return self.returncode == 1 and bool(self.failed)  # 1: tests ran and some failed


def run_tests(tree: Path, tests: tuple[str, ...], name: str) -> Outcome:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rf", *tests],
            cwd=tree,
            env=environment(tree),
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT_S,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = -1, f"timed out after {TEST_TIMEOUT_S} s\n{exc.stdout or ''}"
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", output, re.M)
    tail = "\n".join(output.strip().splitlines()[-15:])
    return Outcome(name, code, round(time.monotonic() - started, 1), failed, tail)


def imported_from(tree: Path) -> dict[str, str]:
    """Where the copy's Python finds the product and the support package."""
    packages = ("analyzers", "resources", "video_assets", "support")
    code = f"import {', '.join(packages)}; print(*(m.__file__ for m in ({', '.join(packages)})))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=environment(tree), capture_output=True, text=True, check=True
    ).stdout.split()
    return dict(zip(packages, out))


def check(breakages=BREAKAGES, jobs: int = 2, root: Path = PROJECT, log=print) -> bool:
    """True when every breakage is caught (and the guarding tests pass on the unbroken tree)."""
    started = time.monotonic()
    problems = snippet_problems(root, breakages)
    if problems:
        log("the breakages no longer apply to this tree; point them at the code again:")
        for problem in problems:
            log(f"  {problem}")
        return False
    guards = tuple(dict.fromkeys(t for b in breakages for t in b.tests))
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        base = copy_tree(root, Path(scratch) / "unbroken")
        wrong = {m: f for m, f in imported_from(base).items() if not Path(f).is_relative_to(base)}
        if wrong:
            log(f"the copy does not import its own code: {wrong}")
            return False
        log(f"unbroken tree: {len(guards)} guarding tests ...")
        baseline = run_tests(base, guards, "unbroken")
        if baseline.returncode != 0:
            log(f"the guarding tests fail on the unbroken tree ({baseline.seconds} s):\n{baseline.tail}")
            return False
        log(f"unbroken tree: guarding tests pass ({baseline.seconds} s)")

        def one(index_breakage):
            index, breakage = index_breakage
            tree = copy_tree(root, Path(scratch) / f"broken{index}")
            apply(breakage, tree)
            outcome = run_tests(tree, breakage.tests, breakage.name)
            shutil.rmtree(tree, ignore_errors=True)
            return breakage, outcome

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(one, enumerate(breakages)))
    all_caught = True
    for breakage, outcome in outcomes:
        if outcome.caught:
            log(f"caught    {breakage.name} ({outcome.seconds} s): {', '.join(outcome.failed)}")
        else:
            all_caught = False
            log(f"SURVIVED  {breakage.name} ({outcome.seconds} s, pytest exit {outcome.returncode}): {breakage.breaks}")
            log("\n".join(f"    {line}" for line in outcome.tail.splitlines()))
    for pending in PENDING if breakages is BREAKAGES else ():
        log(f"pending   {pending.name}: not on this branch yet (support/mutation.py PENDING)")
    caught = sum(outcome.caught for _, outcome in outcomes)
    log(f"{caught} of {len(outcomes)} breakages caught in {time.monotonic() - started:.0f} s")
    return all_caught
