"""The WSGI entry point freezes the start-up heap, so full collections do not walk it (cds_service/heap.py)."""
from __future__ import annotations

import os
import subprocess
import sys


def test_wsgi_entry_point_freezes_the_start_up_heap():
    probe = "import gc; import cds_service.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "TRD_CDS_DATABASE_URL": "memory://", "TRD_CDS_AUTH": "off", "TRD_CDS_LOG_LEVEL": "ERROR"}
    frozen = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert int(frozen.stdout.split()[-1]) > 10_000  # the app's modules, models and tables, not a handful
