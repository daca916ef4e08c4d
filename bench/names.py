"""Recipients' names for the benchmarks: a class's worth, distinct.

Each PDF subsets the fonts of its texts, and a font's subset is kept per set of texts drawn
(akowe.rendering.pdf: a class's PDFs share their course, grade and date). A benchmark that
rotated a few names, or named rows "Student 123" (a few glyphs, repeating), would measure that
cache where a real class misses it: these names are distinct, in several languages,
diacritics and all.
"""

from __future__ import annotations

import random

FIRST = (
    "Adéwálé",
    "Chinonso",
    "Zoë",
    "Łukasz",
    "María",
    "Kwame",
    "Ngozi",
    "Aisha",
    "Oluwaseun",
    "Emeka",
    "Fatima",
    "Ifeoma",
    "Tunde",
    "Grace",
    "Yusuf",
    "Chiamaka",
    "David",
    "Sarah",
    "Bọ́lá",
    "Søren",
    "Joaquín",
    "Amara",
    "Hannah",
    "Kofi",
    "Mẹ́tà",
    "Nneka",
    "Pierre",
    "Ines",
    "Ayọ̀",
    "Björn",
    "Chidi",
    "Efua",
    "Gökhan",
    "Halima",
    "Ikenna",
    "Jürgen",
    "Kemi",
    "Lúcia",
)
LAST = (
    "Ògúnlẹ̀",
    "Okafor",
    "Brontë-Smith",
    "Żółkiewski",
    "García",
    "Mensah",
    "Eze",
    "Adéyẹmí",
    "Nwosu",
    "Ibrahim",
    "Johnson",
    "Okeke",
    "Balógun",
    "Williams",
    "Nakamura",
    "Dubois",
    "Øvergaard",
    "Fernández",
    "Asante",
    "Ọlátúnjí",
    "Müller",
    "Kowalczyk",
    "Achebe",
    "Boateng",
    "Çelik",
    "Danjuma",
    "Ekwueme",
    "Fashola",
    "Gbadamosi",
    "Hernández",
    "Iwobi",
    "Jovanović",
)


def class_names(count: int, seed: int = 7) -> list[str]:
    """`count` distinct names: a first name, a middle initial and a surname."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count:
        initial = chr(65 + rng.randrange(26))
        names.add(f"{rng.choice(FIRST)} {initial}. {rng.choice(LAST)}")
    return rng.sample(sorted(names), count)


# Given names and surnames in four more scripts, for names drawn by other fonts.
_WORLD = (
    (
        "王李张刘陈杨黄赵吴周徐孙",
        ("小明", "伟", "芳", "秀英", "敏", "静", "丽强", "磊", "军", "洋", "勇", "艳杰"),
    ),
    (
        "김이박최정강조윤장임한오",
        ("민준", "서연", "지호", "하은", "도윤", "서윤", "시우", "지우", "예준", "하준"),
    ),
    (
        ("محمد", "أحمد", "علي", "عمر", "يوسف", "فاطمة", "عائشة", "مريم", "خالد", "ليلى"),
        ("عبد الله", "الحسن", "الخطيب", "السيد", "النجار", "حداد", "منصور", "يوسف"),
    ),
    (
        ("अर्जुन", "प्रिया", "राहुल", "अनीता", "विकास", "सुनीता", "कविता", "रोहित", "दीपक"),
        ("शर्मा", "वर्मा", "गुप्ता", "सिंह", "पटेल", "जोशी", "मिश्रा", "यादव"),
    ),
)


def world_names(count: int, seed: int = 7) -> list[str]:
    """`count` names in five scripts in turn (Han, Hangul, Arabic, Devanagari, Latin); the
    non-Latin ones are drawn from short lists, so they repeat (664 distinct in 1,400)."""
    rng = random.Random(seed)
    latin = iter(class_names(count, seed))
    names = []
    for index in range(count):
        if index % 5 == 4:
            names.append(next(latin))
            continue
        first, second = _WORLD[index % 5]
        if index % 5 < 2:  # Han and Hangul: surname then given name, no space
            names.append(rng.choice(first) + rng.choice(second))
        else:
            names.append(f"{rng.choice(first)} {rng.choice(second)}")
    return names
