"""What the words say about the end of a turn (the recognizer's text at a pause).

Smart Turn hears intonation; on voices it was not trained on it often hears "not finished" after a
complete sentence. The words decoded at the pause say it too: a sentence that ends on a full
stop or question mark, not on "the" or an open list, is most likely done.
"""

from __future__ import annotations

CONTINUATIONS = frozenset(
    "the a an my your his her our their its of to for about with from and or but because than "
    "if whose um uh".split())


NEVER_LAST = CONTINUATIONS - frozenset("of to for about with from".split())
"""Words no sentence ends on, a question included ("What is the?" is a recognizer's guess)."""
OF_AFTER = frozenset(
    "made afraid aware fond proud sure tired scared full capable ashamed jealous sick think thinking "
    "heard dreaming consist consists composed kind sort short approve speak speaking out part".split())
"""Words after which a question may end on "of" ("What is it made of?"); after a noun ("What is
the capital of?") it is a question cut off."""


def unfinished(text: str) -> bool:
    """The text stops on a word a sentence does not end on ("... the capital of") or on an open
    list ("eggs, milk,"). A question mark says the recognizer heard a question end, and a question
    may end on a preposition ("What are you waiting for?"), but not on "the" or on "of" after a
    noun ("What is the capital of?": whisper's question mark for a user who has not gone on yet)."""
    t = text.strip()
    if not t:
        return False
    words = [w.lower().strip(",;:.!?…") for w in t.split()]
    if t.endswith("?"):
        return words[-1] in NEVER_LAST or (words[-1] == "of" and (len(words) < 2 or words[-2] not in OF_AFTER))
    if t.endswith((",", ";", ":", "-", "...", "…")):
        return True
    return words[-1] in CONTINUATIONS


def sounds_finished(text: str) -> bool:
    """The words read as a complete sentence: they end on a full stop, question or exclamation
    mark, and not on a word no sentence ends on."""
    t = text.strip()
    if not t.endswith((".", "?", "!")) or t.endswith("..."):
        return False
    return not unfinished(t)
