"""The documentation that is written from elsewhere is up to date: the settings table of
docs/configuration.md (from the settings class) and the site's home page (from README.md).
`make docs` builds the whole site strictly (.ci/run runs it)."""

from __future__ import annotations

import subprocess
import sys

from rnn_serve.service.settings import ENV_PREFIX, Settings
from tests.support.servers import ROOT


def test_every_setting_is_on_the_configuration_page():
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"`{ENV_PREFIX}{name.upper()}`" not in page
    ]
    assert not missing, f"not in docs/configuration.md: {missing} (python scripts/docs_pages.py)"


def test_the_generated_pages_are_up_to_date():
    checked = subprocess.run(
        [sys.executable, "scripts/docs_pages.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
