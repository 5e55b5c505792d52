"""Make the repository importable when the package is not installed (pyproject sets no
pytest ``pythonpath``)."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
