"""Run code under zarr-python 2.18 (the oracle for zarr-2-only stores and N5Store).

zarr 2 and zarr 3 cannot share one environment, so the test script builds a second
virtualenv (``.venv-zarr2``) and tests run snippets in it as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ZARR2_PYTHON = Path(os.environ.get("AZARR_ZARR2_PYTHON", ROOT / ".venv-zarr2" / "bin" / "python"))


def run_zarr2(code: str, timeout: float = 120, **params: Any) -> Any:
    """Run ``code`` with zarr 2.18; ``params`` are available as the dict ``P``.

    The snippet may assign ``RESULT`` (JSON-serialisable); it is returned. A failure
    raises with the subprocess's stderr, so a broken oracle fails the test loudly.
    """
    if not ZARR2_PYTHON.exists():
        raise RuntimeError(f"zarr 2 environment missing at {ZARR2_PYTHON}; run scripts/test.sh")
    prelude = "import json, sys\nP = json.loads(sys.stdin.read())\nRESULT = None\n"
    epilogue = "\nprint('\\n__RESULT__' + json.dumps(RESULT))\n"
    script = prelude + textwrap.dedent(code) + epilogue
    proc = subprocess.run(
        [str(ZARR2_PYTHON), "-c", script],
        input=json.dumps(params),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"zarr 2 snippet failed:\n{proc.stderr[-4000:]}")
    out = proc.stdout.rpartition("\n__RESULT__")[2]
    return json.loads(out)


__all__ = ["ZARR2_PYTHON", "run_zarr2", "sys"]
