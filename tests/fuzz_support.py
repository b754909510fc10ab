"""Shared pieces of the fuzz tests: hostile inputs, Hypothesis settings and the "clean answer" check."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic for CI (derandomize, no example database); the app and client fixtures are
# function-scoped on purpose: every example of one test shares them, state included.
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)

# Strings that broke web applications before: NUL and control bytes, option and shell
# injection, SQL and template syntax, bidi overrides, sizes at and around the column limits.
HOSTILE = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\r\n",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "\U0001f4a9",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "中文部门",
    "-iL",
    "--script=x",
    "; rm -rf / #",
    "$(id)",
    "`id`",
    "' OR 1=1 --",
    '"; DROP TABLE "user"; --',
    "%",
    "_",
    "\\",
    "%00",
    "{{ 7*7 }}",
    "{% raw %}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "//evil.example",
    "/\\evil.example",
    "http://[",
    "//[",
    "/\nLocation: //evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "javascript:alert(1)",
    "-1",
    "0",
    "1e309",
    "NaN",
    "2147483648",
    "9223372036854775808",
    "9" * 30,
    "9" * 5000,
    "true",
    "on",
    "2024-02-30",
    "0001-01-01",
    "9999-12-31",
    "x" * 41,
    "x" * 65,
    "x" * 101,
    "x" * 201,
    "x" * 255,
    "x" * 257,
)

# Values a real form would send, so that fuzzing also gets past the first validation.
PLAUSIBLE = ("city", "north", "bureau", "unit", "admin", "officer", "auditor", "fuzz-officer", "en", "zh", "1", "2")


def huge_text() -> st.SearchStrategy[str]:
    """Long strings: far above every column limit, and one above the form parser's memory limit."""
    return st.one_of(
        st.builds(
            lambda n, ch: ch * n,
            st.integers(min_value=1_000, max_value=40_000),
            st.sampled_from(["x", "\x00", "é", "中", "\U0001f4a9", "%"]),
        ),
        st.just("x" * 600_000),
    )


def text_values(*plausible: str, huge: bool = True) -> st.SearchStrategy[str]:
    """One form or query value: arbitrary unicode, hostile samples, huge strings, plausible values."""
    options = [
        st.sampled_from(plausible or PLAUSIBLE),
        st.text(max_size=80),
        st.sampled_from(HOSTILE),
        st.text(alphabet=st.characters(codec="utf-8", min_codepoint=0, max_codepoint=0x1F), max_size=20),
    ]
    if huge:
        options.append(huge_text())
    return st.one_of(options)


def form_values(*plausible: str, huge: bool = True) -> st.SearchStrategy[str | list[str]]:
    """A value or, where the form expects one value, several (a list)."""
    one = text_values(*plausible, huge=huge)
    return st.one_of(one, one, st.lists(one, min_size=0, max_size=4))


def assert_clean(response, what: str = "") -> None:
    """No server error and no traceback, whatever was sent."""
    raw = response.get_data() if hasattr(response, "get_data") else response.content
    body = raw.decode("utf-8", "replace")  # exports answer with binary files
    assert response.status_code < 500, f"{what}: {response.status_code} {body[:500]}"
    assert "Traceback" not in body, f"{what}: traceback in the answer"
    assert "most recent call last" not in body, f"{what}: traceback in the answer"
