"""`repairdesk worker` for tests/test_multi_machine.py, as its own process.

With REPAIRDESK_TEST_HOLD_PHOTO_JOB=FILE, the photo job stops halfway (the
original read from the store, nothing written yet), writes its pid to FILE and
waits there, so the test can kill -9 the worker in the middle of a job.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _hold_photo_jobs(marker: Path) -> None:
    from repair.photos import jobs

    real = jobs.process_original

    def held(*args, **kwargs):
        marker.write_text(str(os.getpid()))
        time.sleep(600)  # until the test kills this process
        return real(*args, **kwargs)

    jobs.process_original = held


if __name__ == "__main__":
    hold = os.environ.get("REPAIRDESK_TEST_HOLD_PHOTO_JOB")
    if hold:
        _hold_photo_jobs(Path(hold))
    from repair.cli import main

    sys.argv = ["repairdesk", "worker"]
    main()
