"""Count whitespace-separated words (the counting is done by a small C extension)."""

from wordcount._wordcount import count_words

__all__ = ["count_words"]
