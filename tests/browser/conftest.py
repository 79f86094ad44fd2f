"""The browser tests run when a chromium is found and playwright imports; otherwise
they are not collected, and the run ends with one line saying so and how to enable them.
"""

from lab_driver import find_chromium


def _why_not():
    """None when the browser tests can run, else the reason they cannot."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright does not import (pip install -e '.[test]')"
    if find_chromium() is None:
        return "no chromium at /usr/bin/chromium or on PATH (apt-get install chromium)"
    return None


WHY_NOT = _why_not()
if WHY_NOT:
    collect_ignore_glob = ["test_*.py"]


def pytest_terminal_summary(terminalreporter):
    if WHY_NOT:
        terminalreporter.write_line(f"browser tests (tests/browser) skipped: {WHY_NOT}; "
                                    "install it to run them in make test")
