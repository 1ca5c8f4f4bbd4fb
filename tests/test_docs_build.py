"""The documentation site builds with ``mkdocs build --strict`` (no warnings: every page in the
nav, no broken links, every ``::: emberjit...`` block resolves). mkdocs comes with the dev extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_strict_build(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=110, env=env)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("emberjit.jit.api.jit", "emberjit.vmap", "emberjit.profile.Profile.summary",
                 "emberjit.openai_model.OpenAIModel"):
        assert f'id="{name}"' in api, f"{name} missing from the API page"
    for page in ("quickstart", "concepts", "scheduling", "migration-from-xcs", "cli", "plans"):
        assert (tmp_path / "site" / page / "index.html").exists(), page
