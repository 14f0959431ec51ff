"""The browser tests need Playwright, which `make browser` installs (the `browser` extra) and
`make install` does not: without it they are not collected at all."""

from importlib.util import find_spec

collect_ignore_glob = [] if find_spec("playwright") else ["test_*.py"]
