"""What the words say about the end of a turn (the recognizer's text at a pause).

Smart Turn hears intonation; on voices it was not trained on it often hears "not finished" after a
complete sentence. The words decoded at the pause say it too: a sentence that ends on a full
stop or question mark, not on "the" or an open list, is most likely done.
"""

from __future__ import annotations

CONTINUATIONS = frozenset(
    "the a an my your his her our their its of to for about with from and or but because than "
    "if whose um uh".split())


def unfinished(text: str) -> bool:
    """The text stops on a word a sentence does not end on ("... the capital of") or on an open
    list ("eggs, milk,"); a question mark says the recognizer heard a question end ("What are
    you waiting for?")."""
    t = text.strip()
    if not t or t.endswith("?"):
        return False
    if t.endswith((",", ";", ":", "-", "...", "…")):
        return True
    return t.split()[-1].lower().strip(",;:.!…") in CONTINUATIONS


def sounds_finished(text: str) -> bool:
    """The words read as a complete sentence: they end on a full stop, question or exclamation
    mark, and not on a word no sentence ends on."""
    t = text.strip()
    if not t.endswith((".", "?", "!")) or t.endswith("..."):
        return False
    return not unfinished(t)
