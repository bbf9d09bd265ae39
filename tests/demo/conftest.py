"""One test-size demo province per session (about a second), read back by the demo tests."""

from __future__ import annotations

import json

import pytest

from shuyun.demo import generate, preset


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "province"
    generate(preset("test"), out)
    return out


@pytest.fixture(scope="session")
def manifest(demo_out):
    return json.loads((demo_out / "manifest.json").read_text(encoding="utf-8"))
