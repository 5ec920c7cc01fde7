"""Where the nasty input files live, in one folder for every test that reads them.

``tests/bad_files/`` holds the small cases of the bad-input corpus (written by
``python -m tests.corpus.cases`` and checked against their generators) and a few real-world
exports made by hand (``excel_*.csv``, ``utf8_bom_messy.csv``, see tests/importer/test_fixture_files.py).
"""

from __future__ import annotations

from pathlib import Path

BAD_FILES = Path(__file__).resolve().parents[1] / "bad_files"
