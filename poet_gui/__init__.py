"""POET Studio: plan memory-constrained on-device training (rematerialisation + paging)."""

import time

__version__ = "0.1.0"

#: When this program's code began to load (``time.monotonic``, one clock for every process on the
#: machine). A CLI solve's time limit counts from here, so the imports, the model's loading and the
#: solver child's start are inside it: a user's "--time-limit 30" is the wall time they wait.
STARTED_MONOTONIC_S = time.monotonic()
