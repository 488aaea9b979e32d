"""The risk screen: its three layers, what it says, and how it fails safe.

Figures on messages it was not tuned on are measured by benchmarks/screening.py; the floors at
the end of this file only stop them getting worse unnoticed.
"""

from __future__ import annotations

import copy
import gzip
import logging
import random
import re
import shutil
from pathlib import Path

import pytest

from bot.safety import corpus
from bot.safety.classifier import DEFAULT_CLASSIFIER_PATH, Classifier
from bot.safety.lexicon import DEFAULT_LEXICON_PATH, Lexicon
from bot.safety.normalise import DEFAULT_NORMALISE_PATH, Normaliser
from bot.safety.scanner import Scanner
from bot.safety.screening import Screen, default_screen

SCREEN = default_screen()
LEXICON = SCREEN.lexicon


def verdict(text: str) -> str:
    return SCREEN.screen(text).verdict


# --- What it says ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "concern"),
    [
        ("I want to kill myself", "crisis", "self"),
        ("been putting a few of my pregabalin aside each week, about 60 now", "crisis", "self"),
        ("how many co-codamol would it take", "crisis", "self"),
        ("I just really wish I wasn't here any more", "crisis", "self"),
        ("I've written letters for the kids for when I'm gone", "crisis", "self"),
        ("cut my arms again last night", "crisis", "self"),
        ("took the lot last night and woke up in A&E", "crisis", "self"),
        ("my husband hits me when he's had a drink", "crisis", "safeguarding"),
        ("he keeps my tablets and only gives me them if I behave", "crisis", "safeguarding"),
        ("I'm going to stab him when he gets in", "crisis", "others"),
        ("my son says he wants to kill himself", "crisis", "someone-else"),
        ("my daughter is suicidal", "crisis", "someone-else"),
        ("this pain is killing me", "check", "self"),
        ("I feel like such a burden on everyone", "check", "self"),
        ("I'm not suicidal, just worn out", "check", "self"),
        ("I tried to end it when I was 19, years ago now", "check", "self"),
        ("I've stopped taking all my tablets", "check", "self"),
        ("Can you remind me what time Thursday's session starts?", "none", None),
        ("I'm dying for a cuppa after that session", "none", None),
        ("Collected my repeat prescription today", "none", None),
        ("he said I'd be better off dead", "crisis", "self"),  # said to the writer: theirs
    ],
)
def test_level_and_concern(text: str, level: str, concern: str | None) -> None:
    result = SCREEN.screen(text)
    assert (result.verdict, result.concern) == (level, concern)
    if level != "none":
        assert result.matched  # an entry (or "classifier") decided it
        assert result.entries or result.matched == "classifier"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("Burnt my hand on the iron on purpose halfway through", "self-harm-deliberate"),
        ("cut my fingers chopping veg tonight. not an accident", "self-harm-deliberate"),
        ("ran the shower as hot as it goes until my skin blistered", "self-harm-deliberate"),
        ("the cutting started again after the MRI", "self-harm-deliberate"),
        ("sh'd again. sorry", "self-harm-deliberate"),
        ("swallowed a whole strip of co-codamol yesterday", "suicide-overdose"),
        ("took my whole week's dosette box in one go", "suicide-attempt"),
        ("got home this morning after the od", "suicide-attempt"),
        ("my throat hurts from the charcoal they made me drink", "suicide-attempt"),
        ("is there a dose of pregabalin that stops your breathing", "suicide-means-medicine"),
        ("rough week, coped by cutting most nights", "self-harm-deliberate"),
        ("after the phone call I went up to my room and cut", "self-harm-deliberate"),
        ("I cut again last night, sorry", "self-harm-deliberate"),
        ("told the nurse it was the cat. it wasn't, we don't have one", "self-harm-deliberate"),
        ("keep punching my own legs when the pain spikes", "self-harm-done"),
        ("took my whole prescription on Friday night", "suicide-attempt"),
        ("my tramadol goes in a tin in the shed instead of taking them", "suicide-means-medicine"),
        ("how many of my amitriptyline would it take to be final", "suicide-means-medicine"),
        ("checked the trains at the level crossing, not to catch one", "suicide-method"),
        ("I keep going to the multi storey and looking at the drop", "suicide-method"),
        ("every night I hope my heart just stops in my sleep", "passive-wish-dead"),
        ("been sharpening the axe, he's getting it when he's back", "harm-to-others"),
        ("he makes me do things in bed even when I say no", "safeguarding-sexual"),
        ("my son's not giving me any food when his wife's away", "safeguarding-neglect"),
        ("there's no after next week for me", "suicide-preparation"),
        ("all my pregabalin is in a jar in the wardrobe now", "suicide-means-medicine"),
        ("60 tramadol in a tin, ready", "suicide-means-medicine"),
    ],
)
def test_deliberate_injuries_and_attempts_told_plainly_are_a_crisis(text: str, entry: str) -> None:
    result = SCREEN.screen(text)
    assert result.verdict == "crisis"
    assert entry in result.entries
    # Whose risk it is: the writer's, unless the entry is about others or abuse.
    expected = {"harm-to-others": "others", "safeguarding-sexual": "safeguarding"}
    assert result.concern == expected.get(
        entry, "safeguarding" if entry.startswith("safeguarding") else "self"
    )


@pytest.mark.parametrize(
    "text",
    [
        "burnt my hand on the iron, not on purpose obviously",
        "took the whole box of tablets back to the chemist",
        "took my whole dosette box to the pharmacy",
        "cut my finger chopping veg, silly accident",
        "I need a long hot bath until my back eases",
        "I manage by cutting my walks into short bits, like you said",
        "coping by cutting out gluten for a month",
        "I cut back on the co-codamol like the GP said",
        "went upstairs and cut my toenails, first time in months",
        "went upstairs and cut fabric for my quilting",
        "I burned again yesterday in the sun, forgot my cream",
        "told the GP it was eczema but it wasn't, it's psoriasis",
        "after my hair cut I made myself a brew",
        "took my whole repeat prescription to the chemist",
        "took my full prescription in for the medication review",
        "swallowed a whole tub of ice cream",
        "took the full box back to the chemist for disposal",
        "was at the hospital after taking all morning to get there",
        "I keep my tablets in a tin by the kettle so I remember them",
        "put my tablets by the bed so I take them at night",
        "my tablets are in my bag if I need them at group",
        "meds ready for tomorrow, see you at 9:30",
        "I keep my pills in a box with the days on",
        "washing my hands loads, trying not to catch it",
        "which car park has the fewest people about, I need a space by the lift",
        "looking at the drop in my pain scores since week 3",
        "I hope my heart stops pounding before the scan",
        "happiest moments this week were imagining not being in pain",
        "we were driving through a crowd of people after the concert",
        "sharpening my knives ready for next time I cook",
        "they're not letting me eat till the scan tomorrow",
        "there's no next week for me, I'm away at my sister's",
        "instead of taking it I'm putting a heat pack on",
        "I left my meds in the drawer instead of taking them to hospital",
        "a proper goodbye to the group on Thursday, thank you all",
    ],
)
def test_everyday_injuries_and_errands_are_not_a_lexicon_crisis(text: str) -> None:
    result = SCREEN.screen(text)
    assert result.verdict != "crisis" or result.matched == "classifier"
    crisis_entries = {
        "self-harm-deliberate", "self-harm-done", "suicide-overdose", "suicide-attempt",
        "suicide-means-medicine", "suicide-method", "passive-wish-dead", "harm-to-others",
        "safeguarding-neglect", "suicide-preparation",
    }  # fmt: skip
    assert not crisis_entries & set(result.entries)


def test_the_result_names_what_decided_it_and_keeps_the_pattern_out_of_records() -> None:
    result = SCREEN.screen("I want to kill myself")
    record = result.to_json()
    assert record["verdict"] == "crisis" and record["concern"] == "self"
    assert record["matched"] == "suicide-explicit-kill-myself"
    assert "suicide-explicit-kill-myself" in record["entries"]
    assert set(record) == {"verdict", "concern", "matched", "entries", "score"}
    assert result.pattern and result.pattern not in str(record)


def test_the_classifier_scores_and_can_only_raise_the_level() -> None:
    # An ordinary message: a score, no raise.
    ordinary = SCREEN.screen("Lovely session today, see you Thursday")
    assert ordinary.verdict == "none" and ordinary.score is not None and ordinary.score < 0.5
    # Without the classifier, the lexicon alone never gives a higher level than with it.
    alone = Screen(SCREEN.normaliser, SCREEN.lexicon, None)
    rank = {"none": 0, "check": 1, "crisis": 2}
    for example in corpus.load("train")[::7]:
        assert rank[SCREEN.screen(example.text).verdict] >= rank[alone.screen(example.text).verdict]


def test_needs_check_is_true_for_a_crisis_too() -> None:
    crisis, check, none = (SCREEN.screen(t) for t in ("kms", "I give up", "Lovely day"))
    assert (crisis.needs_check, check.needs_check, none.needs_check) == (True, True, False)
    assert (crisis.is_crisis, check.is_crisis) == (True, False)


def test_screening_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        SCREEN.screen("I want to kill myself with my tablets, all 60 of them")
        SCREEN.wants_to_report("I'm in a lot of pain")
    assert not caplog.records


def test_report_intents_are_a_separate_question() -> None:
    assert SCREEN.wants_to_report("I'm in a lot of pain today")
    assert not SCREEN.wants_to_report("I'm not in a lot of pain today, thanks")
    assert not SCREEN.wants_to_report("See you on Monday")
    assert verdict("I'm struggling") == "none"
    assert verdict("I'm struggling and I want to die") == "crisis"


# --- Layer 1: normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("I’m  NOT\u200b ok!!!", "im not ok"),
        ("killlll myyyyself", "kill myself"),
        ("<b>self-harm</b>\n\n*today*", "self harm today"),
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "i want to die"),
        ("kíll", "kill"),
        ("kіll mуsеlf", "kill myself"),  # Cyrillic і, у, е
        ("ᴋɪʟʟ", "kill"),  # small capitals
        ("i want to k1ll mys3lf", "i want to kill myself"),
        ("5u1c1d3", "suicide"),
        ("30mg and 5kms", "30mg and 5kms"),  # numbers that start a word are left alone
        ("k i l l  m y s e l f", "kill myself"),
        ("killmyself", "kill myself"),
        ("ah cannae dae this nae mair, ah want tae dee", "i cant do this no more i want to die"),
        ("I just really kind of want to die tbh", "i want to die"),
        ("im feeling sucidal", "im feeling suicidal"),
        ("keep thinkin bout jumpin", "keep thinking bout jumping"),
        ("💊💊 tonight", "pills pills tonight"),
        ("", ""),
        ("  \n\t ", ""),
        ("😭🙏", ""),
    ],
)
def test_normalise(text: str, normalised: str) -> None:
    assert SCREEN.normalised(text) == normalised


def test_a_broken_normalisation_file_is_refused(tmp_path: Path) -> None:
    good = DEFAULT_NORMALISE_PATH.read_text(encoding="utf-8")
    for broken in (
        good.replace('version = "', 'version = "" # '),
        good + '\n[words]\n"x" = "y"\n',  # a second [words] table: not TOML
        good.replace('"u" = "you"', '"u" = "Y\'all"'),
        good.replace('"а" = "a"', '"аа" = "a"'),
        good + "\n[surprise]\n",
    ):
        path = tmp_path / "normalise.toml"
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(ValueError, match="normalisation"):
            Normaliser.load(path)


# --- Layer 2: the lexicon ------------------------------------------------------------------------


def test_the_lexicon_file_loads_with_a_version_unique_ids_notes_and_concerns() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", LEXICON.version)
    rules = {entry.rule.id: entry.rule for entry in LEXICON.risks}
    assert len(rules) >= 30
    assert {rule.concern for rule in rules.values()} == {
        "self",
        "others",
        "safeguarding",
        "someone-else",
    }


_GOOD = """
version = "test"
[concept.meds]
note = "medicines"
words = ['tablets', 'pills']
[[risk]]
id = "good-entry"
level = "crisis"
concern = "self"
note = "why"
patterns = ['\\bsaving ~3 {meds}\\b']
"""


def _entry(
    entry_id: str, pattern: str, level: str = "crisis", concern: str = "self", note: str = "n"
) -> str:
    return (
        f'\n[[risk]]\nid = "{entry_id}"\nlevel = "{level}"\nconcern = "{concern}"\n'
        f'note = "{note}"\npatterns = [{pattern!r}]\n'
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"\bwant to (die", "bad regular expression"),
        (r"\bdie.*", "uses '*'"),
        (r"\b(?:die)+", "uses '+'"),
        (r"\bDIE\b", "capital"),
        (r"\bdon't\b", "apostrophes"),
        (r"\b{nothing}\b", "{nothing} is not a [concept.nothing]"),
        (r"(?:x)?", "empty message"),
        (r"\bsaving ~20 {meds}\b", "a gap is ~1 to ~12"),
        (r"\b(?P<x>die)\b", "named group"),
    ],
)
def test_a_broken_entry_is_refused_by_id(tmp_path: Path, pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"'broken-entry'.*{re.escape(problem)}"):
        Lexicon.load(_write(tmp_path, _GOOD + _entry("broken-entry", pattern)))


def test_entries_need_a_known_level_and_concern_a_note_and_a_unique_id(tmp_path: Path) -> None:
    for extra, problem in (
        (_entry("x", r"\bx\b", level="urgent"), "unknown level"),
        (_entry("x", r"\bx\b", concern="world"), "unknown concern"),
        (_entry("x", r"\bx\b", note=" "), "note"),
        (_entry("good-entry", r"\bx\b"), "duplicate id"),
    ):
        with pytest.raises(ValueError, match=problem):
            Lexicon.load(_write(tmp_path, _GOOD + extra))
    with pytest.raises(ValueError, match="version"):
        Lexicon.load(_write(tmp_path, _GOOD.replace('version = "test"', 'version = ""')))
    with pytest.raises(ValueError, match="not valid TOML"):
        Lexicon.load(_write(tmp_path, _GOOD + "[[risk"))


def test_proximity_negation_unless_and_attribution(tmp_path: Path) -> None:
    text = _GOOD.replace(
        "patterns = ['\\bsaving ~3 {meds}\\b']",
        "patterns = ['\\bsaving ~3 {meds}\\b']\nunless = ['\\bholiday\\b']",
    )
    text += "\n[negation]\nwords_before = 3\ncues = ['not']\nbridges = ['been']\n"
    lexicon = Lexicon.load(_write(tmp_path, text))
    screen = Screen(SCREEN.normaliser, lexicon, None)
    assert screen.screen("saving up all my pills").verdict == "crisis"  # 3 words between
    assert screen.screen("saving up all of my pills").verdict == "none"  # 4 words between
    assert screen.screen("not been saving my pills").verdict == "check"  # negated
    assert screen.screen("saving my pills for the holiday").verdict == "none"  # unless


def test_the_fast_scanner_finds_what_each_pattern_finds_alone() -> None:
    # White-box: patterns are tried only where their literal beginnings and anchor words make
    # a match possible. Trying every pattern at every word must find exactly the same.
    rng = random.Random(11)
    vocabulary = SCREEN.normalised(DEFAULT_LEXICON_PATH.read_text(encoding="utf-8")).split()
    texts = [SCREEN.normalised(e.text) for e in corpus.load("train")[::5]]
    for _ in range(600):
        texts.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 12))))
    # Long diaries too, where most words begin some pattern and many anchors are present.
    texts += [" ".join(rng.sample(texts[:-600], 25)) for _ in range(2)]
    for scanner in (LEXICON.risk_scanner, LEXICON.report_scanner):
        for text in texts:
            found = set(scanner.matches(text))
            expected = set()
            start = 0
            for word in text.split(" "):
                for index, pattern in enumerate(scanner.patterns):
                    matched = pattern.match(text, start)
                    if matched:
                        expected.add((index, start, matched.end()))
                        break
                start += len(word) + 1
            assert found == expected, text


def test_no_lexicon_pattern_is_tried_at_every_word() -> None:
    # One such pattern (harm to others, which began with a look-ahead) was half of all the
    # regex work on a long diary.
    assert LEXICON.risk_scanner.tried_everywhere == ()
    assert LEXICON.report_scanner.tried_everywhere == ()
    ahead = Scanner([re.compile(r"\b(?!could kill )(?:i|we) (?:will )?kill\b")])
    assert ahead.tried_everywhere == ()
    assert list(ahead.matches("then i will kill")) == [(0, 5, 16)]
    assert list(ahead.matches("i could kill for a brew")) == []


def test_a_broken_lexicon_refuses_to_load_the_screen(tmp_path: Path) -> None:
    broken = _write(tmp_path, _GOOD + _entry("broken-entry", r"\b(unclosed"))
    with pytest.raises(ValueError, match="broken-entry"):
        Screen.load(lexicon_path=broken)


# --- Layer 3: the classifier ---------------------------------------------------------------------


def test_a_missing_or_corrupt_classifier_leaves_the_lexicon_running_and_logs_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt.json.gz"
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    wrong = tmp_path / "wrong.json.gz"
    wrong.write_bytes(gzip.compress(b'{"format": 99}'))
    for path in (tmp_path / "missing.json.gz", corrupt, wrong):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            screen = Screen.load(classifier_path=path)
        assert screen.classifier is None
        assert any("lexicon alone" in record.message for record in caplog.records)
        assert screen.screen("I want to kill myself").verdict == "crisis"
        assert screen.screen("this pain is killing me").verdict == "check"
        assert screen.screen("Lovely day").score is None


def test_the_classifier_is_small_plain_numbers_and_loaded() -> None:
    # Its load time is measured by benchmarks/screening.py; here, that it is what runs.
    assert DEFAULT_CLASSIFIER_PATH.stat().st_size < 2_000_000
    assert SCREEN.classifier is not None
    assert Classifier.load(DEFAULT_CLASSIFIER_PATH).version == SCREEN.classifier.version


def test_the_classifier_computes_what_scikit_learn_computes() -> None:
    np = pytest.importorskip("numpy")
    training = pytest.importorskip("bot.safety.training")
    sparse = pytest.importorskip("scipy.sparse")
    examples = corpus.load("train")
    random.Random(3).shuffle(examples)
    examples = examples[:400]
    texts = [SCREEN.normaliser.plain(example.text) for example in examples]
    model = training.fit(texts, examples)
    classifier = training.from_json(model, "test")
    char, word = training.vectorisers()
    matrix = sparse.hstack([char.fit_transform(texts), word.fit_transform(texts)]).tocsr()
    reference = training._model().fit(matrix, [e.level == "crisis" for e in examples])
    expected = reference.decision_function(matrix)
    got = np.array([classifier.decision(text)[0] for text in texts])
    assert np.max(np.abs(expected - got)) < 1e-3


def test_training_is_deterministic_and_the_saved_model_is_current(tmp_path: Path) -> None:
    training = pytest.importorskip("bot.safety.training")
    examples = corpus.load("train")[::25]
    texts = [SCREEN.normaliser.plain(example.text) for example in examples]
    first = training.save(training.fit(texts, examples), tmp_path / "a.json.gz")
    second = training.save(training.fit(texts, examples), tmp_path / "b.json.gz")
    assert first == second
    # The model in the repository was trained from today's corpus and normalisation: after
    # changing either, run scripts/train-screen.
    saved = training.saved_model(DEFAULT_CLASSIFIER_PATH)
    assert saved["corpus"] == training.corpus_digest()
    assert saved["normalise_version"] == SCREEN.normaliser.version
    # Which messages the lexicon checks sets the threshold after a check: a lexicon change too.
    assert saved["lexicon_version"] == SCREEN.lexicon.version


# --- Hostile and unusual input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("", "none"),
        ("   \n\t  ", "none"),
        ("?!...", "none"),
        ("<b>*_[x](y)", "none"),
        ("<b>I want to</b> *kill* _myself_", "crisis"),
        ("[I want to die](https://example.org)", "crisis"),
        ("<script>alert('I want to die')</script>", "crisis"),
        ("I&#39;m going to kill&nbsp;myself", "crisis"),
        ("I want to die 😭😭😭", "crisis"),
        ("😀" * 1000, "none"),
        ("💊💊💊💊💊💊💊💊", "check"),
        ("أنا بخير، شكراً", "none"),
        ("I want to \u202edie", "crisis"),
        ("I want to ki\u200bll myself", "crisis"),
        ("I want to su\u200dici\u200dde", "crisis"),
        ("I WANT TO DIE", "crisis"),
        ("SUICIDAL", "crisis"),
        ("i wanna dieeeeeee", "crisis"),
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "crisis"),
        ("І wаnt tо kіll mуsеlf", "crisis"),  # Cyrillic look-alikes throughout
        ("I don’t want to kill myself", "check"),
    ],
)
def test_hostile_and_unusual_input(text: str, level: str) -> None:
    assert verdict(text) == level


_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_invitation_codes_and_links_are_not_read_as_words() -> None:
    # A guest's "/start <code>" once got the crisis reply: the classifier read a random code,
    # spelled towards risk words, as a disclosure. Codes as secrets.token_urlsafe(16) makes them.
    rng = random.Random(11)
    flagged = []
    for _ in range(3000):
        code = "".join(rng.choices(_URLSAFE, k=22))
        for text in (code, f"/start {code}", f"https://t.me/pmp_bot?start={code}"):
            if verdict(text) != "none":
                flagged.append(text)
    assert flagged == []


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # The lexicon still reads whatever the classifier is spared.
        ("I_W4nt_T0_D1e_N0w_Pl3ase", "crisis"),
        ("https://t.me/pmp_bot?start=Xy3_kQ9pLm2ZrT8vWb5nHc I want to die", "crisis"),
        ("/start N_Vubzk2gPBXhDh16xl5YQ", "none"),
    ],
)
def test_a_code_beside_words_leaves_the_words_screened(text: str, level: str) -> None:
    assert verdict(text) == level


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("N_Vubzk2gPBXhDh16xl5YQ", False),
        ("b-2gCcOmpwVgL3KAXQTPng", False),
        ("see www.example.org/page", False),
        ("ICantDoThisAnymore", True),
        ("I_W4nt_T0_D1e_N0w_Pl3ase", True),
        ("iwanttodieiwanttodie", True),
        ("great-granddaughter", True),
        ("paracetamol500mg", True),
    ],
)
def test_the_classifier_is_spared_codes_not_words_run_together(text: str, kept: bool) -> None:
    assert (text in SCREEN.normaliser.without_codes(text)) is kept


def test_no_training_message_is_taken_for_a_code() -> None:
    without = SCREEN.normaliser.without_codes
    assert [e.text for e in corpus.load("train") if without(e.text) != e.text] == []


_SAFE = [
    "the",
    "a",
    "my",
    "i",
    "we",
    "it",
    "was",
    "is",
    "and",
    "to",
    "of",
    "in",
    "on",
    "for",
    "at",
    "with",
    "session",
    "today",
    "physio",
    "walk",
    "pacing",
    "stretch",
    "group",
    "tea",
    "garden",
    "bus",
    "car",
    "morning",
    "evening",
    "good",
    "fine",
    "okay",
    "thanks",
    "lovely",
    "weather",
    "tired",
    "sleep",
    "knee",
    "back",
    "shoulder",
    "breathing",
    "relaxation",
    "diary",
    "goal",
    "week",
    "monday",
    "friday",
    "home",
    "family",
    "dog",
    "cat",
    "film",
    "book",
    "reading",
    "cooking",
    "quiet",
    "slowly",
    "better",
    "little",
    "bit",
    "more",
    "less",
]


def _diary(length: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_SAFE) + rng.choice(("", "", "", ",", ".", "!", "\n"))
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


def test_a_crisis_sentence_in_the_middle_of_4000_characters_of_diary_is_found() -> None:
    diary = _diary(4000)
    text = diary[:2000] + ". I have been saving my tramadol for the weekend. " + diary[2000:]
    assert verdict(diary) == "none"
    result = SCREEN.screen(text)
    assert (result.verdict, result.matched) == ("crisis", "suicide-means-medicine")


def test_a_million_characters_screen_as_nothing_and_a_phrase_at_the_end_is_found() -> None:
    text = _diary(1_000_000)
    assert verdict(text) == "none"
    assert SCREEN.wants_to_report(text) is False
    assert verdict(text + " and honestly I want to end my life") == "crisis"


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("a" * 100_000, "none"),
        ("!" * 100_000, "none"),
        ("😭" * 100_000, "none"),
        ("<b" * 100_000, "none"),
        ("\u200b" * 100_000, "none"),
        ("1" * 100_000, "none"),
        ("kill " * 100_000, "same as a short run"),
        ("want to " * 50_000, "none"),
        ("i dont want to die. " * 25_000, "check"),  # half a megabyte, every phrase negated
    ],
    ids=lambda value: f"{value[:6]!r}x{len(value)}" if len(value) > 10 else value,
)
def test_repetitive_input_gets_a_level_quickly_enough_to_return(text: str, level: str) -> None:
    if level == "same as a short run":
        level = verdict(text[:30])
    assert verdict(text) == level


# --- Floors on messages the screen was not tuned on (see benchmarks/screening.py) ---------------

# Measured on the held-out part when this screen was built; a change that does worse fails.
HELDOUT_FLOORS = {
    "crisis_as_crisis": 0.81,
    "crisis_silent": 0.04,
    "ambiguous_caught": 0.94,
    "ordinary_flagged": 0.08,
    "ordinary_as_crisis": 0.015,
}


def test_held_out_figures_do_not_get_worse() -> None:
    examples = corpus.load("heldout")
    results = [SCREEN.screen(example.text).verdict for example in examples]
    crisis = [r for e, r in zip(examples, results, strict=True) if e.level == "crisis"]
    check = [r for e, r in zip(examples, results, strict=True) if e.level == "check"]
    ordinary = [r for e, r in zip(examples, results, strict=True) if e.level == "none"]
    assert crisis.count("crisis") / len(crisis) >= HELDOUT_FLOORS["crisis_as_crisis"]
    assert crisis.count("none") / len(crisis) <= HELDOUT_FLOORS["crisis_silent"]
    assert (len(check) - check.count("none")) / len(check) >= HELDOUT_FLOORS["ambiguous_caught"]
    assert (len(ordinary) - ordinary.count("none")) / len(ordinary) <= HELDOUT_FLOORS[
        "ordinary_flagged"
    ]
    assert ordinary.count("crisis") / len(ordinary) <= HELDOUT_FLOORS["ordinary_as_crisis"]


def test_the_corpus_is_large_labelled_and_kept_apart() -> None:
    train, heldout = corpus.load("train"), corpus.load("heldout")
    assert len(train) + len(heldout) >= 2000 and len(heldout) >= 400
    assert not {e.text for e in train} & {e.text for e in heldout}
    assert {e.cls for e in heldout} == set(corpus.CLASSES)


def test_a_copy_of_the_lexicon_screens_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "risk_lexicon.toml"
    shutil.copy(DEFAULT_LEXICON_PATH, copy)
    assert Lexicon.load(copy).version == LEXICON.version


@pytest.mark.parametrize(
    ("text", "kept"),
    [("I wasn't suicidal, just tired", "wasnt"), ("they'd be better off", "theyd")],
)
def test_contractions_are_never_corrected_to_a_word_that_matters(text: str, kept: str) -> None:
    words = SCREEN.normalised(text).split()
    assert kept in words and "want" not in words and "they" not in words


def test_wasnt_is_read_as_a_negation_and_in_the_phrases_that_use_it() -> None:
    assert SCREEN.screen("I wasn't suicidal, just tired").verdict == "check"  # negated
    wish = SCREEN.screen("I wish I wasn't here any more")
    assert wish.verdict == "crisis" and wish.matched != "classifier"
    assert "suicide-attempt" in SCREEN.screen("it wasn't an accident, the overdose").entries


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("my hoose is a tip after the weekend", "none"),  # Scots house, not a noose
        ("it's awfy cauld the day", "none"),
        ("thinking about unaliving myself", "crisis"),
    ],
)
def test_dialect_and_online_words_are_read_as_meant(text: str, level: str) -> None:
    result = SCREEN.screen(text)
    assert result.verdict == level
    if level == "crisis":
        assert result.matched != "classifier"  # the lexicon reads it, not luck


def test_after_a_lexicon_check_less_confidence_makes_a_crisis() -> None:
    # The lexicon checks "made my will" (words of death); the classifier's crisis score is
    # enough for crisis there at the lower threshold, and only there.
    assert SCREEN.classifier is not None
    will = "made my will this week, got it all sorted, nothing left to do now"
    plain = "sorted out the paperwork for the car this week, nothing left to do now"
    negated = "I don't want to kill myself, honestly"
    alone = Screen(SCREEN.normaliser, SCREEN.lexicon, None)
    assert (alone.screen(will).verdict, alone.screen(plain).verdict) == ("check", "none")
    assert (SCREEN.asks_check(will), SCREEN.asks_check(plain)) == (True, False)
    assert alone.screen(negated).verdict == "check" and not SCREEN.asks_check(negated)
    lower, strict = copy.copy(SCREEN.classifier), copy.copy(SCREEN.classifier)
    lower.crisis_threshold = strict.crisis_threshold = 0.999
    lower.crisis_after_check, strict.crisis_after_check = 0.001, 0.999
    assert Screen(SCREEN.normaliser, SCREEN.lexicon, lower).screen(will).verdict == "crisis"
    assert Screen(SCREEN.normaliser, SCREEN.lexicon, strict).screen(will).verdict == "check"
    assert Screen(SCREEN.normaliser, SCREEN.lexicon, lower).screen(plain).verdict != "crisis"
    # A negated crisis is the person's own no, and hopelessness is not about death or injury:
    # the general threshold still applies to both.
    assert Screen(SCREEN.normaliser, SCREEN.lexicon, lower).screen(negated).verdict == "check"
    hopeless = "I want everything to stop hurting"
    assert alone.screen(hopeless).verdict == "check" and not SCREEN.asks_check(hopeless)
    assert Screen(SCREEN.normaliser, SCREEN.lexicon, lower).screen(hopeless).verdict == "check"


def test_the_threshold_after_a_lexicon_check_keeps_to_its_budget() -> None:
    training = pytest.importorskip("bot.safety.training")

    def example(level: str) -> corpus.Example:
        cls = {"none": "ordinary", "crisis": "explicit"}[level]
        return corpus.Example("x", level, "none" if level == "none" else "self", cls, "t")  # type: ignore[arg-type]

    # 1,000 ordinary messages: 6 the lexicon leaves alone score 0.95 for crisis, which sets the
    # general threshold at 0.955 (0.5% may pass); the lexicon checks 10 others, at 0.60-0.69.
    # One more checked ordinary message scores above the general threshold: it is past that
    # threshold already, so it takes nothing from the budget.
    examples = [example("none")] * 1001 + [example("crisis")] * 10
    scores = (
        [(0.95, 0.9)] * 6
        + [(0.1, 0.1)] * 984
        + [(0.6 + i / 100, 0.9) for i in range(10)]
        + [(0.99, 0.9)]
        + [(0.99, 0.99)] * 10
    )
    checks = [False] * 990 + [True] * 11 + [False] * 10
    found = training.thresholds(scores, examples, checks)
    assert found["crisis"] == pytest.approx(0.955)
    # 0.2% of 1,000 is 2 ordinary messages: the threshold sits just above the third highest.
    assert found["crisis_after_check"] == pytest.approx(0.675)
    raised = sum(s[0] >= found["crisis_after_check"] for s in scores[990:1000])
    assert raised == 2
    assert found["crisis_after_check"] <= found["crisis"]
    # With no ordinary message checked by the lexicon, the floor is the even chance.
    assert training.thresholds(scores, examples, [False] * 1011)["crisis_after_check"] == 0.5


def test_an_older_classifier_file_without_the_threshold_after_a_check_still_loads(
    tmp_path: Path,
) -> None:
    training = pytest.importorskip("bot.safety.training")
    model = training.saved_model(DEFAULT_CLASSIFIER_PATH)
    del model["thresholds"]["crisis_after_check"]
    old = tmp_path / "old.json.gz"
    training.save(model, old)
    loaded = Classifier.load(old)
    assert loaded.crisis_after_check == loaded.crisis_threshold
    model["thresholds"]["crisis_after_check"] = 0.999  # above the crisis threshold: refused
    training.save(model, old)
    with pytest.raises(ValueError, match="out of range"):
        Classifier.load(old)


@pytest.mark.parametrize(
    "text",
    [
        "life is absolute hell at the moment. want to die",
        "spent all day in the shed. want to die",
        "my tramadol goes in a tin in the shed instead of taking them",
        "what the hell is the point, I want to end it",
    ],
)
def test_words_that_look_like_he_ll_or_she_d_do_not_make_a_crisis_someone_elses(text: str) -> None:
    # "hell" and "shed" once read as "he'll" and "she'd": the person in crisis was told what
    # to do for somebody else.
    result = SCREEN.screen(text)
    assert (result.verdict, result.concern) == ("crisis", "self")


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("made a will at the solicitors after we bought the house", ()),
        ("we updated our wills now the new baby is here", ()),
        ("made my will this week, nothing left to sort now", ("will-made",)),
    ],
)
def test_a_will_with_an_everyday_reason_is_not_asked_about(
    text: str, entries: tuple[str, ...]
) -> None:
    # A will after buying a house got the crisis numbers (the classifier's score is enough for
    # crisis after a lexicon check); with a reason near it the lexicon leaves it alone.
    result = SCREEN.screen(text)
    assert tuple(e for e in result.entries if e == "will-made") == entries
    if not entries:
        assert result.verdict != "crisis"


def test_near_crisis_is_only_for_check_entries(tmp_path: Path) -> None:
    text = DEFAULT_LEXICON_PATH.read_text(encoding="utf-8")
    anchor = 'id = "suicide-explicit-kill-myself"\nlevel = "crisis"\n'
    assert anchor in text
    broken = tmp_path / "lexicon.toml"
    broken.write_text(text.replace(anchor, anchor + "near_crisis = true\n"), encoding="utf-8")
    with pytest.raises(ValueError, match="near_crisis"):
        Lexicon.load(broken)
    near = {entry.rule.id for entry in SCREEN.lexicon.risks if entry.rule.near_crisis}
    assert {"death-ambiguous", "self-injury-ambiguous"} <= near
    assert not any(name.startswith("hopeless") for name in near)


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("had to throw a bath towel away, couldn't get the blood out", True),
        ("sleeves down all summer so my husband doesn't see", True),
        ("six months clean. was. last night.", True),
        ("the home treatment team came round again", True),
        ("I remember swallowing them and then the nurse", True),
        ("blood on my pillow from a nosebleed again", False),
        ("wearing gloves because it's freezing in here", False),
        ("I remember taking my tablets this morning, I think", False),
    ],
)
def test_what_self_harm_leaves_behind_gets_a_check(text: str, asked: bool) -> None:
    # Told without saying it: blood on towels, sleeves worn so no one sees, a clean spell
    # broken, the crisis team coming. A check from the lexicon at least, never silence.
    entries = set(SCREEN.screen(text).entries)
    assert ("self-injury-ambiguous" in entries) is asked
