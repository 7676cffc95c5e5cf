"""Vietnamese names: the stored (normalised) form, the folded matching form, and splitting."""

import pickle
import re
import unicodedata
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.names import MAX_LENGTH, InvalidName, NameParts, Reason, fold, normalize, split

PROPERTY = settings(max_examples=300, deadline=None)

# ------------------------------------------------------------------------- a Vietnamese alphabet

VOWELS = "aăâeêioôơuưy"
CONSONANTS = "bcdđghklmnpqrstvx"
FOREIGN = "fjwz"  # not in the 29-letter alphabet, but found in ethnic minority and foreign names
TONES = {
    "ngang": "",
    "huyền": "\u0300",
    "sắc": "\u0301",
    "hỏi": "\u0309",
    "ngã": "\u0303",
    "nặng": "\u0323",
}
LOWER_LETTERS = sorted(
    {unicodedata.normalize("NFC", v + tone) for v in VOWELS for tone in TONES.values()}
    | set(CONSONANTS + FOREIGN)
)
LETTERS = LOWER_LETTERS + [letter.upper() for letter in LOWER_LETTERS]
WHITESPACE = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", " \r\n "]
FOLDED = re.compile(r"[a-z'\- ]+")


def test_the_alphabet_has_every_tone_of_every_vowel() -> None:
    assert len(LOWER_LETTERS) == 12 * 6 + 17 + 4
    assert all(len(letter) == 1 for letter in LETTERS)  # all precomposed in NFC
    assert {"ễ", "Ự", "Đ", "ư", "Ă"} <= set(LETTERS)


letters = st.sampled_from(LETTERS)


@st.composite
def vietnamese_names(draw: st.DrawFn) -> str:
    """A name as it may arrive: any case, messy whitespace, NFC or decomposed (NFD).

    Words are one syllable or a few joined by hyphens/apostrophes ("Bru-Vân", "H'Hen").
    """
    text = draw(st.sampled_from(WHITESPACE))
    for _ in range(draw(st.integers(1, 5))):
        for syllable in range(draw(st.integers(1, 3))):
            if syllable:
                text += draw(st.sampled_from("-'"))
            text += "".join(draw(st.lists(letters, min_size=1, max_size=7)))
        text += draw(st.sampled_from(WHITESPACE))
    return unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), text)


def valid(text: str) -> bool:
    try:
        normalize(text)
    except InvalidName:
        return False
    return True


def strip_marks(text: str) -> str:
    """Remove every combining mark (tones and vowel marks), leaving đ as it is."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# ------------------------------------------------------------------------- normalize: examples


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("NGUYỄN thị  minh   ANH", "Nguyễn Thị Minh Anh"),
        ("đặng", "Đặng"),
        ("ĐẶNG VĂN ĐỨC", "Đặng Văn Đức"),
        ("Nguye\u0302\u0303n", "Nguyễn"),  # NFD: e + circumflex + tilde
        # Marks typed in the wrong order: NFC composes the first; the second stays combining.
        ("Nguye\u0303\u0302n", "Nguy\u1ebd\u0302n"),
        ("  trần\tthị\nthu\u00a0hà\u3000", "Trần Thị Thu Hà"),
        ("phạm   NHẬT vượng", "Phạm Nhật Vượng"),
        ("ư", "Ư"),
        ("bru-vân kiều", "Bru-Vân Kiều"),
        ("GIẺ-TRIÊNG", "Giẻ-Triêng"),
        ("h'hen niê", "H'Hen Niê"),
        ("ksor h\u2019bia", "Ksor H'Bia"),  # typographic apostrophe stored as ASCII
        ("y\u02bcmoan", "Y'Moan"),  # modifier letter apostrophe too
        ("lê\u2010văn", "Lê-Văn"),  # Unicode hyphen stored as ASCII
        ("a", "A"),
        ("ǆura", "ǅura"),  # the title case of a digraph letter, not its upper case
        ("straße", "Straße"),
        ("ßa", "Ssa"),  # an upper case of several letters: title case, then the rest lower
    ],
)
def test_normalize(text: str, stored: str) -> None:
    assert normalize(text) == stored


def test_normalize_does_not_use_str_title() -> None:
    # str.title() starts a new word after a mark that does not compose (here U+0323 on "x").
    assert "x\u0323a".title() == "X\u0323A"
    assert normalize("x\u0323a") == "X\u0323a"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t\n\u3000", "empty"),
        ("Nguyễn Văn 2", "digits"),
        ("Nguyễn Văn ٢", "digits"),  # an Arabic-Indic digit
        ("Louis Ⅳ", "digits"),  # a Roman numeral letter-number
        ("Nguyễn\x00Anh", "control"),
        ("Nguyễn\x07", "control"),
        ("Nguyễn\x7f", "control"),
        ("Nguyễn\u200bAnh", "control"),  # zero-width space (a format character)
        ("Nguyễn\u00adAnh", "control"),  # soft hyphen
        ("Nguyễn\ufeffAnh", "control"),
        ("Nguyễn.Anh", "character"),
        ("Nguyễn, Anh", "character"),
        ("Nguyễn@Anh", "character"),
        ("Nguyễn_Anh", "character"),
        ("Nguyễn\u2013Anh", "character"),  # an en dash is not a hyphen
        ("Nguyễn 😀", "character"),
        ("Nguyễn \udcff", "character"),  # a lone surrogate from undecodable bytes
        ("Nguyễn \ue000", "character"),  # private use
        ("\u0301Anh", "character"),  # a mark with no letter to sit on
        ("Nguyễn \u0301Anh", "character"),
        ("-Anh", "punctuation"),
        ("Anh-", "punctuation"),
        ("'Anh", "punctuation"),
        ("Bru--Vân", "punctuation"),
        ("Bru - Vân", "punctuation"),
        ("H''Hen", "punctuation"),
        ("-", "punctuation"),
        ("\u0149a", "character"),  # ŉ: its title case starts with an apostrophe (unstable)
        ("Nguyễn V\u0430n Bình", "script"),  # a Cyrillic а among Latin letters
        ("Ivan \u0418\u0432\u0430\u043d\u043e\u0432", "script"),
        ("\u0391nh", "script"),  # a Greek capital alpha
        ("Nguyễn \u5c71\u7530", "script"),  # Han among Latin letters
        ("\u0e2a\u0e21 Anh", "script"),  # Thai, then Latin
    ],
)
def test_normalize_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        normalize(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        (
            "\u0438\u0432\u0430\u043d \u043f\u0435\u0442\u0440\u043e\u0432",
            "\u0418\u0432\u0430\u043d \u041f\u0435\u0442\u0440\u043e\u0432",
        ),  # Иван Петров
        (
            "\u03c3\u03c9\u03ba\u03c1\u03ac\u03c4\u03b7\u03c2",
            "\u03a3\u03c9\u03ba\u03c1\u03ac\u03c4\u03b7\u03c2",
        ),  # Σωκράτης
        (
            "\u5c71\u7530 \u306f\u306a\u3053",
            "\u5c71\u7530 \u306f\u306a\u3053",
        ),  # Han with Hiragana: Japanese
        (
            "\u30e4\u30de\u30c0\u30fc",
            "\u30e4\u30de\u30c0\u30fc",
        ),  # Katakana with the long-vowel mark (Common)
        ("\uae40 \ubbfc\uc900", "\uae40 \ubbfc\uc900"),  # Hangul
        ("\u0e2a\u0e21\u0e0a\u0e32\u0e22", "\u0e2a\u0e21\u0e0a\u0e32\u0e22"),  # Thai with its marks
        ("Nguye\u0303\u0302n", "Nguy\u1ebd\u0302n"),  # combining marks used with Latin
    ],
)
def test_normalize_takes_a_name_in_one_script(text: str, stored: str) -> None:
    assert normalize(text) == stored


def test_a_mixed_script_refusal_names_the_character_not_the_name() -> None:
    with pytest.raises(InvalidName) as caught:
        normalize("Nguyễn V\u0430n Bình")
    assert "U+0430 CYRILLIC SMALL LETTER A" in str(caught.value)
    assert "Nguy" not in str(caught.value)


def test_the_error_survives_pickling() -> None:
    with pytest.raises(InvalidName) as caught:
        normalize("Nguyễn Văn 2")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 (our own bytes)
    assert (copy.reason, str(copy)) == ("digits", str(caught.value))


def test_the_length_limit_counts_the_normalised_name() -> None:
    assert len(normalize("a" * MAX_LENGTH)) == MAX_LENGTH
    with pytest.raises(InvalidName) as caught:
        normalize("a" * (MAX_LENGTH + 1))
    assert caught.value.reason == "too_long"
    # Whitespace that collapses and NFD that composes do not count.
    assert len(normalize("  " + "a" * 49 + "\t\t\t " + "b" * 50 + "  ")) == MAX_LENGTH
    nfd = unicodedata.normalize("NFD", "ễ" * MAX_LENGTH)
    assert len(nfd) == 3 * MAX_LENGTH
    assert normalize(nfd) == "Ễ" + "ễ" * (MAX_LENGTH - 1)


@pytest.mark.parametrize(
    "text",
    ["Nguyễn Văn 2024", "Nguyễn\x00Bình An", "x" * 150, "Nguyễn @Thị Hoa", "-Nguyễn Thị Hoa"],
)
def test_messages_never_repeat_the_name(text: str) -> None:
    with pytest.raises(InvalidName) as caught:
        normalize(text)
    message = str(caught.value)
    for word in re.split(r"[^\w]+", text):
        if len(word) > 3:
            assert word not in message
            assert word.lower() not in message.lower()


# ------------------------------------------------------------------------- fold: examples


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nguyễn Thị Minh Anh", "nguyen thi minh anh"),
        ("NGUYỄN thị  minh   ANH", "nguyen thi minh anh"),
        ("Đặng", "dang"),
        ("đặng", "dang"),
        ("Nguye\u0302\u0303n", "nguyen"),
        ("Nguye\u0303\u0302n", "nguyen"),
        ("Trương Vĩnh Ký", "truong vinh ky"),
        ("Phạm Thị Ngọc Trâm", "pham thi ngoc tram"),
        ("Bru-Vân Kiều", "bru-van kieu"),
        ("H'Hen Niê", "h'hen nie"),
        ("Ksor H\u2019Bia", "ksor h'bia"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_refuses_what_normalize_refuses() -> None:
    with pytest.raises(InvalidName):
        fold("Nguyễn Văn 2")


# ------------------------------------------------------------------------- split: examples


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Nguyễn Thị Minh Anh", ("Nguyễn", "Thị Minh", "Anh")),
        ("  trần   hưng đạo ", ("Trần", "Hưng", "Đạo")),
        ("Lê Lợi", ("Lê", "", "Lợi")),
        ("Thảo", ("", "", "Thảo")),
        ("Tôn Thất Thuyết", ("Tôn", "Thất", "Thuyết")),  # a two-syllable surname is not seen
        ("H'Hen Niê", ("H'Hen", "", "Niê")),
    ],
)
def test_split(text: str, parts: tuple[str, str, str]) -> None:
    result = split(text)
    assert result == parts
    assert isinstance(result, NameParts)
    assert (result.surname, result.middle, result.given) == parts


# ------------------------------------------------------------------------- properties


@PROPERTY
@given(vietnamese_names())
def test_normalize_is_idempotent_nfc_and_single_spaced(text: str) -> None:
    name = normalize(text)
    assert normalize(name) == name
    assert unicodedata.is_normalized("NFC", name)
    assert "  " not in name
    assert name == name.strip()
    assert all(ch == " " or not ch.isspace() for ch in name)


@PROPERTY
@given(vietnamese_names())
def test_every_syllable_is_capitalised(text: str) -> None:
    for part in re.split(r"[ '\-]", normalize(text)):
        assert part[0] == part[0].upper()
        assert part[1:] == part[1:].lower()


@PROPERTY
@given(vietnamese_names())
def test_normalize_keeps_the_letters(text: str) -> None:
    # Only case and whitespace change: the folded letters are those of the input.
    expected = " ".join(strip_marks(text).lower().replace("đ", "d").split())
    assert fold(text) == expected


@PROPERTY
@given(vietnamese_names())
def test_fold_of_vietnamese_is_plain_ascii(text: str) -> None:
    folded = fold(text)
    assert FOLDED.fullmatch(folded)
    assert "  " not in folded


@PROPERTY
@given(vietnamese_names())
def test_fold_of_normalize_is_fold(text: str) -> None:
    assert fold(normalize(text)) == fold(text)
    assert fold(fold(text)) == fold(text)


@PROPERTY
@given(vietnamese_names(), st.data())
def test_case_and_diacritic_variants_fold_equal(text: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    mixed = "".join(ch.swapcase() if flip else ch for ch, flip in zip(text, flips, strict=True))
    variants = [
        text.upper(),
        text.lower(),
        mixed,
        unicodedata.normalize("NFD", text),
        unicodedata.normalize("NFC", text),
        strip_marks(text),  # typed without any diacritics
        strip_marks(text).replace("đ", "d").replace("Đ", "D"),
        normalize(text),
    ]
    folded = fold(text)
    for variant in variants:
        assert fold(variant) == folded


@PROPERTY
@given(vietnamese_names())
def test_split_rejoins_to_the_name(text: str) -> None:
    name = normalize(text)
    surname, middle, given_name = split(text)
    assert " ".join(part for part in (surname, middle, given_name) if part) == name
    assert given_name
    assert " " not in given_name
    assert " " not in surname


@PROPERTY
@given(st.text(st.characters(codec=None), max_size=40))
def test_any_text_either_normalises_stably_or_is_refused(text: str) -> None:
    try:
        name = normalize(text)
    except InvalidName as error:
        reason: str = error.reason
    else:
        assert normalize(name) == name
        assert unicodedata.is_normalized("NFC", name)
        assert 0 < len(name) <= MAX_LENGTH
        assert fold(name) == fold(text) == fold(fold(text))
        return
    assert reason in get_args(Reason)


@PROPERTY
@given(st.text(st.sampled_from([*LETTERS[:20], "-", "'", " ", "\u0301", "1", "."]), max_size=20))
def test_valid_names_are_exactly_the_well_formed_ones(text: str) -> None:
    words = text.split()
    well_formed = bool(words) and all(
        re.fullmatch(r"[^\W\d_](?:\u0301)*(?:['\-]?[^\W\d_](?:\u0301)*)*", word) for word in words
    )
    assert valid(text) == well_formed
