"""Shared helpers for the Python tests (run by tests/run.py with Debian's /usr/bin/python3)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("USEREC_BUILD", os.path.join(ROOT, "build"))
BIN = os.environ.get("USEREC_BIN", os.path.join(ROOT, "userec"))
SHARED = os.environ.get("USEREC_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
FIXTURES = os.path.join(SHARED, "fixtures")
USE_LITE = os.path.join(FIXTURES, "use-lite")
SPM_MODEL = os.path.join(USE_LITE, "tfhub-lite2", "assets", "universal_encoder_8k_spm.model")
DATA = os.path.join(SHARED, "data")


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


def need_shared(*relpaths):
    """Skips the calling test unless every path under ../shared exists."""
    for rel in relpaths or ("",):
        path = os.path.join(SHARED, rel)
        if not os.path.exists(path):
            raise Skip(f"{path} is absent (tests read the real fixtures from ../shared)")


def run(cmd, check=True, **kw):
    """Runs a command, returning CompletedProcess with text output; on unexpected failure says what it printed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc
