"""compkit's reusable library: everything a contest folder's stage scripts call."""
import os

# OpenMP threads (LightGBM, XGBoost) busy-wait between parallel regions by default; on a machine shared
# with other jobs that made LightGBM ~15x slower here. Waiting passively costs little on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
