"""Nothing a file name or a partition key says can move an output out of the data root, no external
tool runs through a shell, and the web UI listens on localhost unless told otherwise."""

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers.keys import check_key, partition_key
from resources.storage import TimelineStorage, UnknownVideoError

PROJECT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("analyzers", "resources", "video_assets")

HOSTILE_PIECES = ["..", ".", "/", "\\", "~", "-", "--", "-rf", "\x00", "%2e%2e%2f", "$(id)", "`id`", ";", "|", "'", '"',
                  "\n", "\u202e", "é", "日本", "\udce9", "CON", "video=x", "*", "?", "[a]", " ", ""]  # fmt: skip
hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(), max_size=40),  # any code point, surrogates and NUL included
    st.lists(st.sampled_from(HOSTILE_PIECES), max_size=12).map("".join),
)
ASSETS = ["timeline", "sampled_frames", "video_probe"]


@pytest.fixture(scope="module")
def storage():
    with tempfile.TemporaryDirectory() as tmp:
        yield TimelineStorage(data_root=str(Path(tmp) / "data"))


def inside(root: Path, path: Path) -> bool:
    return root in path.resolve().parents


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile_text)
def test_a_hostile_file_name_cannot_steer_any_output_out_of_the_data_root(storage, name):
    source = Path("/srv/inbox") / name
    try:
        key = partition_key(source)
    except ValueError as exc:  # only names no file can have (NUL, lone surrogates), said so
        assert "cannot name a file" in str(exc)
        return
    assert check_key(key) == key
    for asset in ASSETS:
        assert inside(storage.root, storage.asset_path(asset, key))
        assert inside(storage.root, storage.temp_path(asset, key))
    assert storage.register_source(source) == key
    assert storage.source_path(key) == source.resolve()
    assert inside(storage.root, storage.root / "sources" / f"{key}.json")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=hostile_text, asset=st.one_of(st.sampled_from(ASSETS), hostile_text))
def test_a_hostile_partition_key_or_asset_name_is_refused_or_stays_inside(storage, key, asset):
    # Dynamic partition keys can be typed into the UI: every path built from one is checked.
    try:
        path = storage.asset_path(asset, key)
    except ValueError as exc:
        assert "unsafe" in str(exc)
    else:
        assert inside(storage.root, path) and path.name == f"{asset}.parquet"
    try:
        record = storage.source_path(key)
    except ValueError as exc:
        assert "unsafe partition key" in str(exc)
    except UnknownVideoError:
        pass
    else:  # only keys registered by the first property exist
        assert check_key(key) == key and record.is_absolute()


SHELL_USES = re.compile(r"shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(|subprocess\.(getoutput|getstatusoutput)\s*\(")


def shell_uses(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if SHELL_USES.search(line)]


def test_the_shell_scanner_finds_what_it_looks_for():
    planted = (
        "subprocess.run(cmd, shell=True)\nos.system('ls')\nos.popen ('x')\nsubprocess.getoutput('y')\n"
        "safe = run([exe, arg])"
    )
    assert len(shell_uses(planted)) == 4


def test_external_tools_are_called_with_argument_lists_never_a_shell():
    files = [f for package in PRODUCT_PACKAGES for f in sorted((PROJECT / package).rglob("*.py"))]
    assert len(files) > 10
    found = {str(f.relative_to(PROJECT)): hits for f in files if (hits := shell_uses(f.read_text()))}
    assert found == {}


def test_the_ui_binds_to_localhost_unless_told_otherwise(instance_home, monkeypatch):
    from video_assets import cli

    started = []

    real_popen = subprocess.Popen

    class Recorded:  # the command line is what matters here; test_webserver starts the real server
        def __init__(self, cmd, **_):
            started.append(cmd)
            gone = real_popen(["true"], start_new_session=True)  # a process group that has already ended,
            gone.wait()  # so the command's clean-up of its server's group finds nothing to stop
            self.pid = gone.pid

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Recorded)
    assert cli.main(["ui"]) == 0
    assert cli.main(["ui", "--host", "0.0.0.0", "--port", "3100"]) == 0
    default, explicit = started
    assert isinstance(default, list) and default[default.index("-h") + 1] == "127.0.0.1"
    assert default[default.index("-p") + 1] == "3000"
    assert explicit[explicit.index("-h") + 1] == "0.0.0.0"  # only when the user asks for it
