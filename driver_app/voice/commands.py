"""The driver's voice commands: one declarative table, and the grammar, phrase list and parser made from it.

`COMMANDS` lists every intent with the ways a driver may say it, written in a small subset of JSGF
(the grammar format pocketsphinx reads): words, `[optional]`, `(one | other)` and rule references
such as `<litres>`, which are declared once in `RULES`. From that one table come

- `jsgf_grammar()`: the grammar pocketsphinx decodes against (speech that is not a command is
  rejected by the recogniser's phone-loop check, see `recognition`);
- `vosk_phrases()`: the phrase list a vosk recogniser is restricted to;
- `parse_command(text)`: text (from either engine, or typed) -> `Command`, or None unless the *whole*
  text is one command. It never raises.

Fuel amounts are whole litres, 1-200, said as number words ("thirty five", "one hundred and
twenty", "a hundred and five", "twenty-five") or typed as digits ("35"). Decimals ("forty point
five") are deliberately not part of the grammar: sims take whole litres in their pit menus, and a
`point` branch gives the recogniser one more place to insert a word that was never said. Such
text parses to None rather than to a rounded amount. The unit is required ("liters", "litres"),
which also guards the number: a last word lost to the push-to-talk key being released early cannot
turn "thirty five liters" into "thirty liters".

Every grammar word is spelled as in the CMU pronouncing dictionary pocketsphinx ships (American
"liters"; both "tyres" and "tires" are in it). Parsing accepts the other spellings ("litres",
"tires", "what is") by normalising them first.

Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

MIN_LITRES: Final = 1
MAX_LITRES: Final = 200
"""The range of `pit_add_fuel` amounts the grammar and the parser accept (litres, whole numbers)."""


@dataclass(frozen=True, slots=True)
class Command:
    """A recognised voice command: the intent name, its slot value if any, and the normalised text."""

    intent: str
    litres: float | None = None
    """For `pit_add_fuel`: the amount to add, in litres; None for every other intent."""
    text: str = ""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One intent: its patterns (JSGF subset, see the module docstring) and canonical example phrases."""

    intent: str
    patterns: tuple[str, ...]
    examples: tuple[str, ...]


_PIT = "[pit stop]"
_SWAP = "(driver swap | driver change | hand off)"

# The one table. Phrase design rules, from measuring pocketsphinx on espeak-ng voices with engine
# noise (tests/integration/driver_app/voice):
# - three words or more: two-word phrases ("box box", "clip that", "fast repair", "quiet please")
#   were right 0-6 times in 10 at 10 dB SNR, their three- and four-word versions 8-10;
# - no pairs that sound alike across intents ("radio on" / "radio off", "new" / "no tyres",
#   "repeat that" / "pit this lap", "save a clip" / "accept the hand off");
# - no optional short word at the end ("liters [of fuel]"): noise after the command becomes "of";
# - pit-menu commands start with "pit stop" (optional, except before a fuel amount: "add twelve
#   liters" alone was right 3 times in 10 even without noise, and wrong amounts are worse than none).
# The examples are the phrasings to teach drivers; the other alternatives are accepted as well.
COMMANDS: Final[tuple[CommandSpec, ...]] = (
    CommandSpec(
        "fuel_status",
        ("(how's | how is) my fuel [looking]", "fuel status", "check my fuel"),
        ("how's my fuel", "fuel status"),
    ),
    CommandSpec(
        "fuel_laps_left",
        ("how many laps of fuel [left]", "laps of fuel left", "fuel laps remaining"),
        ("how many laps of fuel left", "fuel laps remaining"),
    ),
    CommandSpec(
        "fuel_to_finish",
        ("[how much] fuel to the finish", "fuel needed to finish", "can i make the finish"),
        ("how much fuel to the finish", "can i make the finish"),
    ),
    CommandSpec(
        "gap_ahead",
        ("what's the gap (ahead | in front)", "gap to the car ahead"),
        ("what's the gap ahead", "gap to the car ahead"),
    ),
    CommandSpec(
        "gap_behind",
        ("what's the gap behind", "gap to the car behind", "who is behind me"),
        ("what's the gap behind", "gap to the car behind"),
    ),
    CommandSpec(
        "last_lap",
        ("[what was] my last lap [time]", "last lap time"),
        ("what was my last lap", "last lap time"),
    ),
    CommandSpec(
        "best_lap",
        ("[what's] my best lap [time]", "best lap time"),
        ("what's my best lap", "best lap time"),
    ),
    CommandSpec(
        "position",
        ("what position am i [in]", "what's my position", "where am i running"),
        ("what position am i in", "what's my position"),
    ),
    CommandSpec(
        "tyre_status",
        ("how are (my | the) tyres", "tyre (status | temperatures)", "check my tyres"),
        ("how are my tyres", "tyre status"),
    ),
    CommandSpec(
        "stint_time_left",
        ("how long [is] left in (this | the | my) stint", "stint time (left | remaining)", "time left in the stint"),
        ("how long left in this stint", "stint time remaining"),
    ),
    CommandSpec(
        "box_this_lap",
        ("(box | pit) this lap", "i am boxing this lap"),
        ("box this lap", "pit this lap"),
    ),
    CommandSpec(
        "pit_add_fuel",
        ("pit stop add <litres> liters", "refuel <litres> liters"),
        (
            "pit stop add thirty five liters",
            "pit stop add one hundred and twenty liters",
            "pit stop add twelve liters",
            "pit stop add sixty liters",
            "pit stop add eight liters",
            "refuel two hundred liters",
        ),
    ),
    CommandSpec(
        "pit_fill_to_end",
        (f"{_PIT} fill (to the end | the tank)",),
        ("pit stop fill to the end", "pit stop fill the tank"),
    ),
    CommandSpec(
        "pit_change_tyres",
        (f"{_PIT} change [all the | all four | the] tyres", f"{_PIT} fresh tyres"),
        ("pit stop change tyres", "pit stop change all four tyres"),
    ),
    CommandSpec(
        "pit_no_tyres",
        (f"{_PIT} keep the tyres", f"{_PIT} no tyre change"),
        ("pit stop keep the tyres", "pit stop no tyre change"),
    ),
    CommandSpec(
        "pit_fast_repair",
        (f"{_PIT} [use the] fast repair",),
        ("pit stop fast repair", "pit stop use the fast repair"),
    ),
    CommandSpec(
        "pit_clear",
        ("(clear | cancel) [the] pit stop", "clear [all] pit settings"),
        ("clear the pit stop", "cancel pit stop"),
    ),
    CommandSpec(
        "request_handoff",
        (f"request [a] {_SWAP}",),
        ("request driver change", "request a hand off"),
    ),
    CommandSpec(
        "accept_handoff",
        (f"accept [the] {_SWAP}",),
        ("accept driver change", "accept the hand off"),
    ),
    CommandSpec(
        "reject_handoff",
        (f"(reject | decline) [the] {_SWAP}",),
        ("reject the driver change", "decline the hand off"),
    ),
    CommandSpec(
        "repeat_that",
        ("say [that] again", "please repeat", "come again"),
        ("say that again", "please repeat"),
    ),
    CommandSpec(
        "quiet",
        ("[be] quiet please", "radio silence", "stop talking [please]"),
        ("be quiet please", "radio silence"),
    ),
    CommandSpec(
        "talk_to_me",
        ("talk to me [again]", "you can talk again", "start talking again"),
        ("talk to me", "you can talk again"),
    ),
    CommandSpec(
        "clip_that",
        ("clip that [moment]", "save a replay clip", "make a clip"),
        ("clip that moment", "save a replay clip"),
    ),
)

_DIGITS: Final = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS: Final = (
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS: Final = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

RULES: Final[Mapping[str, str]] = {
    "digit": " | ".join(_DIGITS),
    "teen": " | ".join(_TEENS),
    "tens": " | ".join(_TENS),
    "below_hundred": "<digit> | <teen> | <tens> [<digit>]",
    "litres": "<below_hundred> | (one | a) hundred [[and] <below_hundred>] | two hundred",
}
"""Named sub-grammars the patterns refer to as `<name>`. `<litres>` is the slot of `pit_add_fuel`:
exactly the whole numbers 1-200 in words. (Weighting the alternatives so that every number is
equally likely a priori made no measurable difference: 37 vs 36 of 60 amounts right in noise.)"""

SLOTS: Final = frozenset({"litres"})
"""Rule names whose matched words become a `Command` field."""

_SPELLINGS: Final[Mapping[str, str]] = {
    "litres": "liters",
    "litre": "liters",
    "liter": "liters",
    "ltrs": "liters",
    "l": "liters",
    "tires": "tyres",
    "tire": "tyre",
    "hows": "how's",
    "whats": "what's",
    "handoff": "hand off",
    "okay": "ok",
}
_CONTRACTIONS: Final = (("how is my", "how's my"), ("what is", "what's"))


# --- the pattern language: a JSGF subset ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    word: str


@dataclass(frozen=True, slots=True)
class _Ref:
    name: str


@dataclass(frozen=True, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Alt:
    options: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Opt:
    node: _Node


_Node = _Word | _Ref | _Seq | _Alt | _Opt

_TOKEN: Final = re.compile(r"\s*(<[a-z_]+>|[\[\]()|]|[a-z']+)")


def _tokenize(pattern: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = pattern.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"bad pattern {pattern!r} at {text[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _parse_pattern(pattern: str) -> _Node:
    """Pattern text -> tree. Raises ValueError on a malformed pattern (a bug in the table)."""
    tokens = _tokenize(pattern)
    pos = 0

    def alternatives(closer: str | None) -> _Node:
        nonlocal pos
        options = [sequence()]
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            options.append(sequence())
        if closer is not None:
            if pos >= len(tokens) or tokens[pos] != closer:
                raise ValueError(f"missing {closer!r} in pattern {pattern!r}")
            pos += 1
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def sequence() -> _Node:
        nonlocal pos
        items: list[_Node] = []
        while pos < len(tokens) and tokens[pos] not in ("|", ")", "]"):
            token = tokens[pos]
            pos += 1
            if token == "(":
                items.append(alternatives(")"))
            elif token == "[":
                items.append(_Opt(alternatives("]")))
            elif token.startswith("<"):
                items.append(_Ref(token[1:-1]))
            else:
                items.append(_Word(token))
        if not items:
            raise ValueError(f"empty alternative in pattern {pattern!r}")
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    tree = alternatives(None)
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos]!r} in pattern {pattern!r}")
    return tree


_RULE_TREES: Final[Mapping[str, _Node]] = {name: _parse_pattern(body) for name, body in RULES.items()}
_INTENT_TREES: Final[tuple[tuple[str, _Node], ...]] = tuple(
    (spec.intent, _parse_pattern(" | ".join(f"({p})" for p in spec.patterns))) for spec in COMMANDS
)

_Spans = tuple[tuple[str, int, int], ...]


def _match(node: _Node, words: Sequence[str], i: int) -> Iterator[tuple[int, _Spans]]:
    """Every way `node` can match `words` from index `i`: (end index, slot spans)."""
    if isinstance(node, _Word):
        if i < len(words) and words[i] == node.word:
            yield i + 1, ()
    elif isinstance(node, _Ref):
        for end, spans in _match(_RULE_TREES[node.name], words, i):
            yield end, ((node.name, i, end), *spans) if node.name in SLOTS else spans
    elif isinstance(node, _Opt):
        yield i, ()
        yield from _match(node.node, words, i)
    elif isinstance(node, _Alt):
        for option in node.options:
            yield from _match(option, words, i)
    else:
        yield from _match_seq(node.items, words, i)


def _match_seq(items: Sequence[_Node], words: Sequence[str], i: int) -> Iterator[tuple[int, _Spans]]:
    if not items:
        yield i, ()
        return
    for mid, head in _match(items[0], words, i):
        for end, tail in _match_seq(items[1:], words, mid):
            yield end, head + tail


def _expand(node: _Node) -> list[tuple[str, ...]]:
    if isinstance(node, _Word):
        return [(node.word,)]
    if isinstance(node, _Ref):
        return _expand(_RULE_TREES[node.name])
    if isinstance(node, _Opt):
        return [(), *_expand(node.node)]
    if isinstance(node, _Alt):
        return [words for option in node.options for words in _expand(option)]
    result: list[tuple[str, ...]] = [()]
    for item in node.items:
        result = [head + tail for head in result for tail in _expand(item)]
    return result


def _jsgf(node: _Node) -> str:
    if isinstance(node, _Word):
        return node.word
    if isinstance(node, _Ref):
        return f"<{node.name}>"
    if isinstance(node, _Opt):
        return f"[{_jsgf(node.node)}]"
    if isinstance(node, _Alt):
        return "(" + " | ".join(_jsgf(option) for option in node.options) + ")"
    return " ".join(_jsgf(item) for item in node.items)


def _words(node: _Node) -> Iterator[str]:
    if isinstance(node, _Word):
        yield node.word
    elif isinstance(node, _Opt):
        yield from _words(node.node)
    elif isinstance(node, _Alt):
        for option in node.options:
            yield from _words(option)
    elif isinstance(node, _Seq):
        for item in node.items:
            yield from _words(item)


# --- numbers -----------------------------------------------------------------------------------

_UNIT_VALUES: Final[Mapping[str, int]] = {w: n for n, w in enumerate(("zero", *_DIGITS))}
_TEEN_VALUES: Final[Mapping[str, int]] = {w: 10 + n for n, w in enumerate(_TEENS)}
_TENS_VALUES: Final[Mapping[str, int]] = {w: 20 + 10 * n for n, w in enumerate(_TENS)}


def _below_hundred(words: Sequence[str]) -> int | None:
    if len(words) == 1:
        w = words[0]
        for table in (_UNIT_VALUES, _TEEN_VALUES, _TENS_VALUES):
            if w in table:
                return table[w]
        return None
    if len(words) == 2 and words[0] in _TENS_VALUES and words[1] in _UNIT_VALUES and words[1] != "zero":
        return _TENS_VALUES[words[0]] + _UNIT_VALUES[words[1]]
    return None


def _below_thousand(words: Sequence[str]) -> int | None:
    if "hundred" not in words:
        return _below_hundred(words)
    at = words.index("hundred")
    head, tail = words[:at], list(words[at + 1 :])
    if len(head) != 1 or head[0] == "zero":
        return None
    hundreds = 1 if head[0] in ("a", "one") else _UNIT_VALUES.get(head[0])
    if hundreds is None:
        return None
    if not tail:
        return 100 * hundreds
    if tail[0] == "and":
        tail = tail[1:]
    rest = _below_hundred(tail)
    return None if rest is None or rest == 0 else 100 * hundreds + rest


def words_to_number(words: str | Sequence[str]) -> int | None:
    """English cardinal number words (or digits) -> the whole number, or None if they are not one.

    Accepts 0-999,999: "thirty five", "twenty-five", "one hundred and twenty", "a hundred and five",
    "two thousand and ten", "35". Malformed or mixed sequences ("five thirty", "thirty thirty",
    "forty point five", "") are None: this is a strict reader, not a guesser.
    """
    tokens = _normalise(words).split() if isinstance(words, str) else [w.lower() for w in words]
    if len(tokens) == 1 and tokens[0].isdigit():
        value = int(tokens[0])
        return value if value < 1_000_000 else None
    if not tokens or any(t.isdigit() for t in tokens):
        return None
    if "thousand" in tokens:
        at = tokens.index("thousand")
        thousands = 1 if tokens[:at] == ["a"] else _below_thousand(tokens[:at])
        if thousands is None or thousands == 0:
            return None
        tail = tokens[at + 1 :]
        if not tail:
            return 1000 * thousands
        if tail[0] == "and":
            tail = tail[1:]
        rest = _below_thousand(tail)
        return None if rest is None or rest == 0 else 1000 * thousands + rest
    return _below_thousand(tokens)


def number_to_words(n: int) -> str:
    """0-999 -> the words the grammar uses ("one hundred and twenty"). Raises ValueError outside."""
    if not 0 <= n < 1000:
        raise ValueError(f"{n} is outside 0-999")
    if n < 10:
        return ("zero", *_DIGITS)[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens - 2] + (f" {_DIGITS[unit - 1]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    head = f"{_DIGITS[hundreds - 1]} hundred"
    return f"{head} and {number_to_words(rest)}" if rest else head


# --- text in, command out ----------------------------------------------------------------------

_NOT_WORD: Final = re.compile(r"[^a-z0-9' ]+")


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    text = re.sub(r"(\d+)\s*l\b", r"\1 liters", text)  # "35l", "35 l"
    words = []
    for word in _NOT_WORD.sub(" ", text).split():
        word = word.strip("'")
        if word.isdigit() and MIN_LITRES <= int(word) <= MAX_LITRES:
            word = number_to_words(int(word))
        words.append(_SPELLINGS.get(word, word))
    text = " ".join(w for w in words if w)
    for long, short in _CONTRACTIONS:
        text = re.sub(rf"\b{long}\b", short, text)
    return text


def parse_command(text: str) -> Command | None:
    """The command `text` says in full, or None (partial, unknown, out of range, or empty). Never raises."""
    normalised = _normalise(text)
    words = normalised.split()
    if not words:
        return None
    for intent, tree in _INTENT_TREES:
        for end, spans in _match(tree, words, 0):
            if end != len(words):
                continue
            litres: float | None = None
            for name, start, stop in spans:
                if name == "litres":
                    value = words_to_number(words[start:stop])
                    if value is None or not MIN_LITRES <= value <= MAX_LITRES:
                        break
                    litres = float(value)
            else:
                return Command(intent, litres, normalised)
    return None


def example_phrases() -> dict[str, list[str]]:
    """Intent -> its canonical phrases (each parses to that intent); used by tests and help text."""
    return {spec.intent: list(spec.examples) for spec in COMMANDS}


def intents() -> tuple[str, ...]:
    """Every intent name, in table order."""
    return tuple(spec.intent for spec in COMMANDS)


def grammar_words() -> frozenset[str]:
    """Every word the command grammar can produce (each must be in the recogniser's dictionary)."""
    trees = [tree for _, tree in _INTENT_TREES] + list(_RULE_TREES.values())
    return frozenset(word for tree in trees for word in _words(tree))


def jsgf_grammar() -> str:
    """The commands as a JSGF grammar for pocketsphinx; its public rule is `<command>`."""
    lines = ["#JSGF V1.0;", "", "grammar pitbox;", ""]
    lines.append("public <command> = " + " | ".join(f"<{intent}>" for intent in intents()) + ";")
    for intent, tree in _INTENT_TREES:
        lines.append(f"<{intent}> = {_jsgf(tree)};")
    for name, tree in _RULE_TREES.items():
        lines.append(f"<{name}> = {_jsgf(tree)};")
    return "\n".join(lines) + "\n"


def vosk_phrases() -> list[str]:
    """Every full command phrase, for a vosk recogniser's grammar (it learns word transitions from them)."""
    phrases: dict[str, None] = {}
    for _, tree in _INTENT_TREES:
        for words in _expand(tree):
            phrases[" ".join(words)] = None
    return list(phrases)
