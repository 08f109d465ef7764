"""The WSGI entry point tunes garbage collection once the app is built (cds_service/heap.py)."""
from __future__ import annotations

import os
import subprocess
import sys

from cds_service.heap import YOUNG_THRESHOLD


def test_wsgi_entry_point_freezes_the_start_up_heap_and_spaces_young_collections():
    probe = "import gc; import cds_service.wsgi; print(gc.get_freeze_count(), gc.get_threshold()[0])"
    env = {**os.environ, "TRD_CDS_DATABASE_URL": "memory://", "TRD_CDS_AUTH": "off", "TRD_CDS_LOG_LEVEL": "ERROR"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    frozen, threshold = map(int, result.stdout.split()[-2:])
    assert frozen > 10_000  # the app's modules, models and tables, not a handful
    assert threshold == YOUNG_THRESHOLD
