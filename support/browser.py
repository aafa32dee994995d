"""Headless Chromium from Debian's packages, driven by Playwright (the PyPI package, without its own browser
download: `executable_path` points at /usr/bin/chromium). Shared by the report's browser test and make ui-check.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Without the background-networking flags Chromium keeps calling out, which a closed network answers slowly.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


class ChromiumUnavailable(RuntimeError):
    pass


def chromium_path(install: bool = False) -> str:
    """Debian's chromium; with install=True, `apt-get install chromium` when it is missing (as root, or with
    password-less sudo). Raises ChromiumUnavailable saying why when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or not install:
        if not found:
            raise ChromiumUnavailable("chromium is not installed: `apt-get install -y chromium`")
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if sudo and not shutil.which("sudo"):
        raise ChromiumUnavailable("chromium is not installed, and installing it needs root (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run([*sudo, *step], env=env, capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise ChromiumUnavailable(f"installing chromium failed ({' '.join(step)}): {done.stderr.strip()[-500:]}")
    return chromium_path(install=False)


@contextlib.contextmanager
def chromium_browser(install: bool = False, width: int = 1300, height: int = 900):
    """A Playwright browser context on Debian's Chromium with a fresh profile (its `new_page()` opens a tab)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path(install)
    with tempfile.TemporaryDirectory(prefix="chromium_profile_") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


def save_screenshot(page, target: Path, full_page: bool = True) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=full_page)
    return target
