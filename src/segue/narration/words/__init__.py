"""Word lists the narration reads, kept as data files beside this module.

One entry per line; ``#`` starts a comment; blank lines are ignored. Entries are
case-folded. Files:

- ``english.txt``: common English words (SCOWL, see ``NOTICE``), used to tell an
  ordinary sentence-initial word ("Gorgeous", "Buckle") from a name;
- ``allowed_caps.txt``: capitalised words that are never names (days, months, "I");
- ``interjections.txt``: words a host may open a sentence with;
- ``stopwords.txt``: function words per language (``LANG: word word ...``);
- ``genres.txt``: genre names a line may only say when the facts have them;
- ``cliches.txt``: radio clichés no line may contain;
- ``stage_directions.txt``: words that mark a stage direction (laughs, music fades);
- ``instruction_words.txt``: words that make a tag look like an instruction;
- ``injection_tells.txt``: words a line says only when it follows (or discusses) one;
- ``tag_noise.txt``: words that mark a tag suffix as noise (remastered, explicit);
- ``count_nouns.txt``: nouns a spoken count goes with (tracks, years, songs).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from segue.errors import NarrationError

DIRECTORY = Path(__file__).parent


@cache
def word_list(name: str) -> tuple[str, ...]:
    """The entries of ``words/NAME.txt``, folded, in file order.

    Raises
    ------
    NarrationError
        When the file is missing or unreadable (a broken install).

    """
    path = DIRECTORY / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NarrationError(f"{path}: word list missing ({exc})") from exc
    out: list[str] = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            out.append(" ".join(entry.casefold().replace("’", "'").split()))
    return tuple(out)


@cache
def word_set(name: str) -> frozenset[str]:
    """The entries of ``words/NAME.txt`` as a set (see :func:`word_list`)."""
    return frozenset(word_list(name))


@cache
def stopwords() -> dict[str, frozenset[str]]:
    """Function words by language code, from ``stopwords.txt`` (``LANG: words``)."""
    out: dict[str, frozenset[str]] = {}
    for entry in word_list("stopwords"):
        lang, _, words = entry.partition(":")
        out[lang.strip()] = frozenset(words.split())
    return out
