"""The snippet of a search hit: a short piece of the text as written, around the first word
found. Words are found in search form (app/text.py), so each character of the text is folded
on its own, keeping where it came from."""

from collections.abc import Sequence

from app.text import search_fold

WIDTH = 60  # characters of text a snippet shows, at most
BEFORE = 15  # of which, before the word found (when the text goes on that far)
ELLIPSIS = "…"


def _folded(text: str) -> tuple[str, list[int]]:
    """The text in search form, character by character, and for each folded character the
    position in text of the character it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for position, character in enumerate(text):
        piece = " " if character.isspace() else search_fold(character)
        folded.append(piece)
        origin.extend([position] * len(piece))
    return "".join(folded), origin


def _found(text: str, words: Sequence[str]) -> int | None:
    """Where in text the earliest of the words begins, or None."""
    folded, origin = _folded(text)
    starts = [at for word in words if (at := folded.find(word)) >= 0]
    return origin[min(starts)] if starts else None


def _window(text: str, at: int) -> str:
    start = max(0, min(at - BEFORE, len(text) - WIDTH))
    end = min(len(text), start + WIDTH)
    piece = " ".join(text[start:end].split())
    return (ELLIPSIS if start > 0 else "") + piece + (ELLIPSIS if end < len(text) else "")


def snippet(texts: Sequence[str | None], words: Sequence[str]) -> str | None:
    """A piece of the first text that holds one of the words, around it; None when none
    does (a character NFKC composes with the next can hide a word from this search)."""
    for text in texts:
        if text and (at := _found(text, words)) is not None:
            return _window(text, at)
    return None


def opening(texts: Sequence[str | None]) -> str:
    """The beginning of the first text there is: the snippet when no word is found."""
    text = next((text for text in texts if text), "")
    return _window(text, 0)
