"""full_matcher (the per-event text test) answers as the RE2 wrapper's fullmatch does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compiler.regex import compile_full, full_matcher

PATTERNS = [".*[Dd]egrad.*", "[-_ :.]x", "(?i).*timeout.*", ".*é.*", "a|ab", "", ".*", "x*", "\\d+", "(a|b){1,3}"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(PATTERNS), st.booleans(),
       st.text(alphabet=st.sampled_from(list("abxdeDgr -_:.é支\nTIMEOUT0123")), max_size=12))
def test_full_matcher_is_fullmatch(pattern: str, dot_nl: bool, text: str) -> None:
    want = compile_full(pattern, dot_nl).fullmatch(text) is not None
    assert full_matcher(pattern, dot_nl)(text) == want, (pattern, text)
