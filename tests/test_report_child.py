"""The render's child process stays lean: its start-up is part of every report's time (issue 11's
benchmark holds a report to 1.2 × a bare WeasyPrint render of the same HTML)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from secgov.reports.render import ROOT


@pytest.mark.nodb
def test_the_child_imports_weasyprint_and_the_fetcher_but_not_the_app():
    probe = (
        "import json, sys, weasyprint, secgov.reports.child, secgov.reports.fetcher;"
        " print(json.dumps(sorted(m for m in ('flask', 'flask_babel', 'babel', 'sqlalchemy', 'secgov.codes')"
        " if m in sys.modules)))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
