"""The command table: every canonical phrase parses, fuel amounts are read strictly, anything less than a
whole command is None, and the grammar pocketsphinx gets compiles and uses only words it knows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver_app.voice.commands import (
    COMMANDS,
    MAX_LITRES,
    MIN_LITRES,
    Command,
    example_phrases,
    grammar_words,
    jsgf_grammar,
    number_to_words,
    parse_command,
    vosk_phrases,
    words_to_number,
)

INTENTS = [
    "fuel_status",
    "fuel_laps_left",
    "fuel_to_finish",
    "gap_ahead",
    "gap_behind",
    "last_lap",
    "best_lap",
    "position",
    "tyre_status",
    "stint_time_left",
    "box_this_lap",
    "pit_add_fuel",
    "pit_fill_to_end",
    "pit_change_tyres",
    "pit_no_tyres",
    "pit_fast_repair",
    "pit_clear",
    "request_handoff",
    "accept_handoff",
    "reject_handoff",
    "repeat_that",
    "quiet",
    "talk_to_me",
    "clip_that",
]


def test_the_table_has_exactly_the_agreed_intents_each_with_examples() -> None:
    assert [spec.intent for spec in COMMANDS] == INTENTS
    assert all(len(phrases) >= 2 for phrases in example_phrases().values())


@pytest.mark.parametrize(("intent", "phrase"), [(i, p) for i, ps in example_phrases().items() for p in ps])
def test_every_example_phrase_parses_to_its_intent(intent: str, phrase: str) -> None:
    command = parse_command(phrase)
    assert command is not None and command.intent == intent
    assert (command.litres is not None) == (intent == "pit_add_fuel")


@pytest.mark.parametrize(
    ("text", "litres"),
    [
        ("pit stop add thirty five liters", 35.0),
        ("pit stop add thirty-five litres", 35.0),
        ("Pit stop, add 35 litres!", 35.0),
        ("pit stop add 35l", 35.0),
        ("pit stop add one hundred and twenty liters", 120.0),
        ("pit stop add one hundred twenty liters", 120.0),
        ("pit stop add a hundred and five liters", 105.0),
        ("refuel twenty-five litres", 25.0),
        ("refuel one liter", 1.0),
        ("refuel two hundred liters", 200.0),
    ],
)
def test_fuel_amounts_in_words_or_digits_become_litres(text: str, litres: float) -> None:
    assert parse_command(text) == Command("pit_add_fuel", litres, parse_command(text).text)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "pit stop",
        "pit stop add thirty five",  # no unit: the last word may have been cut off
        "pit stop add liters",
        "pit stop add zero liters",
        "pit stop add two hundred and one liters",
        "pit stop add 250 litres",
        "pit stop add forty point five liters",  # decimals are not part of the grammar
        "pit stop add thirty thirty liters",
        "how's my",
        "how's my fuel please now",
        "uh how's my fuel",
        "that was a great overtake into turn one",
    ],
)
def test_partial_out_of_range_or_unrelated_text_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def test_other_spellings_and_contractions_are_normalised() -> None:
    assert parse_command("How is my fuel?") == Command("fuel_status", None, "how's my fuel")
    assert parse_command("HOW ARE MY TIRES") == Command("tyre_status", None, "how are my tyres")
    assert parse_command("What\u2019s my position") == Command("position", None, "what's my position")
    assert parse_command("request a handoff") == Command("request_handoff", None, "request a hand off")


@pytest.mark.parametrize(
    ("words", "number"),
    [
        ("thirty five", 35),
        ("twenty-five", 25),
        ("one hundred and twenty", 120),
        ("a hundred", 100),
        ("nine hundred and ninety nine", 999),
        ("two thousand and ten", 2010),
        ("35", 35),
        (["forty", "two"], 42),
        ("zero", 0),
    ],
)
def test_number_words_are_read(words: str | list[str], number: int) -> None:
    assert words_to_number(words) == number


@pytest.mark.parametrize(
    "words", ["", "five thirty", "thirty thirty", "forty point five", "hundred", "twelve hundred", "one two", "x"]
)
def test_malformed_number_words_are_none(words: str) -> None:
    assert words_to_number(words) is None


@given(st.integers(0, 999))
def test_numbers_round_trip_through_words(n: int) -> None:
    assert words_to_number(number_to_words(n)) == n


@given(st.text(max_size=60))
def test_parsing_never_raises(text: str) -> None:
    command = parse_command(text)
    assert command is None or command.intent in INTENTS


def test_every_vosk_phrase_is_a_command_and_every_amount_is_listed() -> None:
    phrases = vosk_phrases()
    assert len(phrases) == len(set(phrases))
    parsed = [parse_command(p) for p in phrases]
    assert all(c is not None for c in parsed)
    amounts = {c.litres for c in parsed if c is not None and c.intent == "pit_add_fuel"}
    assert amounts == {float(n) for n in range(MIN_LITRES, MAX_LITRES + 1)}


def test_the_jsgf_grammar_compiles_in_pocketsphinx_and_uses_only_dictionary_words() -> None:
    pocketsphinx = pytest.importorskip("pocketsphinx")
    from driver_app.voice.recognition import pocketsphinx_dictionary

    dictionary = pocketsphinx_dictionary()
    unknown = sorted(word for word in grammar_words() if word not in dictionary)
    assert not unknown, f"grammar words missing from the pocketsphinx dictionary: {unknown}"
    decoder = pocketsphinx.Decoder(lm=None, loglevel="FATAL")
    decoder.add_jsgf_string("commands", jsgf_grammar())  # raises on a grammar it cannot parse
    fsg = decoder.get_fsg("commands")
    assert all(fsg.accept(phrase) for phrase in vosk_phrases())  # the grammar takes what the parser takes
    assert not fsg.accept("pit stop add thirty five") and not fsg.accept("pit stop add two hundred and one liters")


def test_the_grammar_words_are_the_parsers_words() -> None:
    words = {w for p in vosk_phrases() for w in p.split()}
    assert words == set(grammar_words())
