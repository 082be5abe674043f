import time

from helpers import run_stage

from omni.frames import ReplyDone, ReplySentence, ReplyToken, Turn
from omni.stages.chunker import SentenceChunker, clean

TURN = Turn(id=1, speech_start=0, speech_end=1, t_speech_end=time.monotonic(), sample_rate=16000)


async def chunk(text: str, pieces: int = 3) -> list[str]:
    toks = [text[i:i + pieces] for i in range(0, len(text), pieces)]
    frames = [ReplyToken(turn=TURN, text=t) for t in toks] + [ReplyDone(turn=TURN, text=text)]
    out = await run_stage(SentenceChunker("sentences"), frames)
    sentences = [f for f in out if isinstance(f, ReplySentence)]
    assert [s.index for s in sentences] == list(range(len(sentences)))
    assert isinstance([f for f in out if not isinstance(f, ReplySentence)][0], ReplyDone)
    return [s.text for s in sentences]


async def test_sentences_are_cut_as_they_complete():
    assert await chunk("The capital of France is Paris. It is lovely in spring! Want more?") == [
        "The capital of France is Paris.", "It is lovely in spring!", "Want more?"]


async def test_abbreviations_decimals_and_short_fragments_do_not_cut():
    assert await chunk("Dr. Smith paid 3.5 dollars. Ok. That was all of it.") == [
        "Dr. Smith paid 3.5 dollars.", "Ok. That was all of it."]


async def test_a_long_first_clause_is_spoken_early():
    text = ("Cats sleep for most of the day, often twelve to sixteen hours, which saves energy "
            "for hunting. They purr too.")
    out = await chunk(text)
    assert out[0] == "Cats sleep for most of the day,"
    assert out[-1] == "They purr too."


async def test_sentence_is_emitted_before_the_reply_ends():
    frames = [ReplyToken(turn=TURN, text=t) for t in ["Hello there", " friend.", " How", " are"]]
    out = await run_stage(SentenceChunker("sentences"), frames, eos=False)
    assert [f.text for f in out if isinstance(f, ReplySentence)] == ["Hello there friend."]


def test_markdown_is_not_read_aloud():
    assert clean("**Paris** is the `capital` of [France](http://x).\n- yes") == \
        "Paris is the capital of France. - yes"


async def test_a_short_first_sentence_goes_out_alone_later_ones_wait():
    """The first sound as soon as the first sentence ends ("Goodbye!"); a short sentence later
    on ("Ok.") and a list's number ("1.") still wait for what follows."""
    assert await chunk("Goodbye! I'm here if you need anything. Ok. Bye then.") == [
        "Goodbye!", "I'm here if you need anything.", "Ok. Bye then."]
    assert (await chunk("2024. What a year that was. Then more."))[0] == "2024. What a year that was."
    assert (await chunk("Really?! Yes.", pieces=1)) == ["Really?", "Yes."]


async def test_a_question_or_exclamation_ends_with_its_mark_not_the_next_token():
    frames = [ReplyToken(turn=TURN, text=t) for t in ["You're", " welcome", "!"]]
    out = await run_stage(SentenceChunker("sentences"), frames, eos=False)
    assert [f.text for f in out if isinstance(f, ReplySentence)] == ["You're welcome!"]
    frames = [ReplyToken(turn=TURN, text=t) for t in ["It is", " 3", "."]]
    out = await run_stage(SentenceChunker("sentences"), frames, eos=False)
    assert [f.text for f in out if isinstance(f, ReplySentence)] == []  # "3." of "3.5"
