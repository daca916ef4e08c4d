"""Names and strings in every script the renderer must draw, shared by tests."""

from __future__ import annotations

# One realistic name (or value) per script; mixed-direction strings test the bidi algorithm.
SCRIPTS: dict[str, str] = {
    "latin-yoruba": "Adéwálé Ògúnlẹ̀",
    "arabic": "محمد عبد الله",
    "arabic-vowelled": "مُحَمَّد",
    "persian": "پرستو رضایی",
    "hebrew": "דוד לוי",
    "hebrew-pointed": "דָּוִד",
    "devanagari": "अर्जुन शर्मा",
    "bengali": "সৌমিত্র চট্টোপাধ্যায়",
    "tamil": "கொண்டல் கோபி",
    "thai": "สมชาย ใจดี",
    "vietnamese": "Nguyễn Thị Hương",
    "chinese": "王小明",
    "japanese": "山田 さくら",
    "korean": "김민준",
    "ethiopic": "አበበ ቢቂላ",
    "khmer": "សុខ ចាន់ណា",
    "gujarati": "ધ્રુવ પટેલ",
    "gurmukhi": "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ",
    "telugu": "శ్రీనివాస్ రెడ్డి",
    "kannada": "ಕೃಷ್ಣ ಪ್ರಸಾದ್",
    "malayalam": "ശ്രീക്കുട്ടി മേനോൻ",
    "odia": "ପ୍ରଦୀପ୍ତ ମହାନ୍ତି",
    "sinhala": "කුමාර සංගක්කාර",
    "georgian": "ნინო ბერიძე",
    "armenian": "Արամ Խաչատրյան",
    "myanmar": "အောင်ဆန်းစုကြည်",
    "lao": "ສົມພອນ ວົງສາ",
    "tibetan": "བསྟན་འཛིན་རྒྱ་མཚོ",
    "syriac": "ܐܦܪܝܡ",
    "thaana": "މުހައްމަދު",
    "cjk-extension-b": "𠮷野家",
    "emoji": "Ada 🎓✨",
    "emoji-zwj": "Ngozi 👩🏾‍🎓",
    "mixed-dr": "Dr. محمد 2",
    "mixed-hebrew-percent": "ציון 3%",
    "mixed-course": "Course: علوم الحاسوب 101",
    "mixed-scripts": "Adéwálé 王小明 김민준 محمد अर्जुन",
}

# Strings whose paragraph holds both directions: poppler's reading-order heuristic cannot
# rebuild their logical order from any placement (see test_text_layer.py).
MIXED_DIRECTION = frozenset(("mixed-dr", "mixed-hebrew-percent", "mixed-course", "mixed-scripts"))
