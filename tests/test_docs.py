"""The documentation that is written from elsewhere is up to date: the settings table of
docs/configuration.md (from the settings class) and the site's home page (from README.md); and
every test the docs name exists. `make docs` builds the whole site strictly (.ci/run runs it)."""

from __future__ import annotations

import re
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


def test_every_test_the_docs_name_exists():
    """`http/test_v1.py::test_name` in the docs, relative to tests/service/ or to tests/ (or
    the repository, as `tests/...`): the file is found in exactly one of them, and holds the
    test (a bare `::test_name` names a test of the file before it on the line)."""
    wrong = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            file = None
            for path, name in re.findall(r"`([\w./-]*test_\w+\.py)?(?:::(\w+))?`", line):
                where = f"{page.name}:{number}"
                if path:
                    bases = (ROOT / "tests" / "service", ROOT / "tests", ROOT)
                    found = [base / path for base in bases if (base / path).is_file()]
                    file = found[0] if len(found) == 1 else None
                    if file is None:
                        wrong.append(f"{where}: {path} is in {len(found)} places, not 1")
                if (
                    name
                    and file
                    and not re.search(rf"^(async )?def {name}\(", file.read_text(), re.M)
                ):
                    wrong.append(f"{where}: {file.relative_to(ROOT)} has no {name}")
    assert not wrong, "\n".join(wrong)
