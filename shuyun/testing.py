"""`shuyun test`: the README's test command. Installs what the browser tests need, then runs pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from shuyun import settings

# fonts-noto-cjk: without a CJK font the screenshots show boxes where the Chinese labels are.
BROWSER_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk")


def browser_present() -> bool:
    cjk_font = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists()
    return bool(shutil.which("chromium") and shutil.which("chromedriver") and cjk_font)


def ensure_browser() -> str | None:
    """Install Debian's chromium + chromium-driver when missing. Returns a reason when it cannot."""
    if browser_present():
        return None
    if not shutil.which("apt-get"):
        return "chromium is missing and this is not a Debian-like system (no apt-get)"
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo") or subprocess.call(["sudo", "-n", "true"], stderr=subprocess.DEVNULL) != 0:
            return "chromium is missing and installing it needs root: sudo apt-get install chromium chromium-driver"
        prefix = ["sudo", "-n"]
    click.echo("shuyun test: installing Debian's chromium and chromium-driver for the browser tests ...", err=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *BROWSER_PACKAGES], env=env
    )
    if result.returncode != 0 or not browser_present():
        return "apt-get could not install chromium and chromium-driver"
    return None


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--fast", is_flag=True, help="Only the fast set (-m 'not slow'): seconds, no services, no browser.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test(fast: bool, pytest_args: tuple[str, ...]) -> None:
    """Run the test suite (everything by default; --fast for the quick set). Extra args go to pytest."""
    args = [sys.executable, "-m", "pytest"]
    if fast:
        args += ["-m", "not slow"]
    else:
        reason = ensure_browser()
        if reason:
            click.echo(f"shuyun test: browser tests will be skipped: {reason}", err=True)
            os.environ["SHUYUN_NO_BROWSER"] = reason
    args += list(pytest_args)
    raise SystemExit(subprocess.call(args, cwd=settings.PROJECT_ROOT))
