"""An exiftool that dies as it starts is an error after a few tries, never a
hang (pyexiftool 0.5 reads a dead process's pipe forever)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("exiftool")

from pximse.integrations.digikam.exiftool_session import ExiftoolSession  # noqa: E402


@pytest.mark.parametrize("body", ["exit 0", "sleep 0.3; exit 1"], ids=["at-once", "after-start"])
def test_an_exiftool_that_dies_is_an_error_not_a_hang(tmp_path: Path, body: str) -> None:
    fake = tmp_path / "exiftool"
    fake.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        ExiftoolSession(str(fake))
    assert time.monotonic() - started < 30


def test_a_real_exiftool_still_answers(tmp_path: Path) -> None:
    import shutil

    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (make system-deps)")
    from PIL import Image

    image = tmp_path / "a.png"
    Image.new("RGB", (4, 3)).save(image)
    with ExiftoolSession() as session:
        found = session.read([str(image)], ["PNG:ImageWidth"])
        assert list(found) == [str(image)] and "4" in str(found[str(image)])
