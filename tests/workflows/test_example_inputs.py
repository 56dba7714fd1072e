"""workflows/inputs is exactly what scripts/make_example_inputs.py draws."""

import subprocess
import sys
from pathlib import Path

from tests.workflows.conftest import INPUTS, ROOT


def test_the_script_regenerates_the_committed_inputs(tmp_path: Path):
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_example_inputs.py"), "--out", str(tmp_path / "made")],
        check=True,
        capture_output=True,
    )
    made = {p.name: p.read_bytes() for p in (tmp_path / "made").iterdir()}
    assert made == {p.name: p.read_bytes() for p in INPUTS.iterdir()}
