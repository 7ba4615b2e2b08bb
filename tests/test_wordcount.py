"""The wordcount C extension counts words exactly like str.split()."""

import pytest
import wordcount
from wordcount import _wordcount, count_words


def test_is_a_compiled_extension():
    """count_words comes from a shared library built from C, not from Python code."""
    assert _wordcount.__file__.endswith(".so")
    assert wordcount.count_words is _wordcount.count_words


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t", "one", "  two  words  ", "lines\nand\ttabs\r\nhere",
     "non\u00a0breaking\u2003spaces", "héllo wörld 😀 ok", "ünïcödé\u3000ideographic space"],
)
def test_counts_like_str_split(text):
    """Any whitespace separates words, Unicode spaces included, as in len(text.split())."""
    assert count_words(text) == len(text.split())


def test_rejects_bytes():
    """Bytes are not text: a TypeError, not a guess at the encoding."""
    with pytest.raises(TypeError, match="expects a str"):
        count_words(b"two words")
