"""What an event label in a PSG file means: sleep stage, leg movement, respiratory event,
arousal, desaturation, or something the scoring does not use.

Labels differ between PSG systems and labs, so the patterns are parameters
(`EventPatterns`, set from the command line). Patterns are shell-style globs matched
without regard to case (`APNEA*` matches `APNEA-OBSTRUCTIVE` and `Apnea`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from legsense.psg.context import N1, N2, N3, REM, UNSCORED, WAKE

# Kinds of events a reader sorts rows into.
LM = "lm"
STAGE = "stage"
RESPIRATORY = "respiratory"
AROUSAL = "arousal"
DESATURATION = "desaturation"
OTHER = "other"


@dataclass(frozen=True)
class EventPatterns:
    """Which labels are which kind of event; the defaults know RemLogic and common
    EDF+ spellings. The first kind whose patterns match a label wins, in the order
    stage, leg movement, respiratory, arousal, desaturation."""

    lm: tuple[str, ...] = (
        "PLM-LM",  # RemLogic: a single LM (PLM without -LM is the scorer's PLM mark)
        "LM",
        "LM *",
        "LM-*",
        "LM_*",
        "Leg movement*",
        "Limb movement*",
        "Leg Movement*",
    )
    respiratory: tuple[str, ...] = (
        "APNEA*",
        "HYPOPNEA*",
        "RERA*",
        # RemLogic exports a RERA (scored on a flow or effort channel) as AROUSAL-RERA; the
        # EEG arousal that ends it is a separate AROUSAL-RESP row.
        "AROUSAL-RERA*",
        "Obstructive *",
        "Central *",
        "Mixed *",
        "Respiratory effort related arousal*",
    )
    arousal: tuple[str, ...] = ("AROUSAL*", "*arousal*")
    desaturation: tuple[str, ...] = ("DESAT*", "*desaturation*", "SpO2 desat*")
    # "LAntib1-LAntib2" / "RAntib1-RAntib2" (anterior tibialis, as RemLogic montages
    # name them) and "EMG.Tibialis-Leg.Left" occur in real exports.
    left: str = (
        r"(?i)(\bleft\b|\blat\b|\bl[-_ ]?leg\b|\btib(ialis)?[-_ ]?l\b|\bl[-_ ]?(ant?[-_ ]?)?tib)"
    )
    right: str = (
        r"(?i)(\bright\b|\brat\b|\br[-_ ]?leg\b|\btib(ialis)?[-_ ]?r\b|\br[-_ ]?(ant?[-_ ]?)?tib)"
    )

    def kind(self, label: str) -> str:
        """The kind of event a label names (LM, STAGE, RESPIRATORY, ... or OTHER)."""
        if stage_of(label) is not None:
            return STAGE
        for kind, patterns in (
            (LM, self.lm),
            (RESPIRATORY, self.respiratory),
            (AROUSAL, self.arousal),
            (DESATURATION, self.desaturation),
        ):
            if _matches(label, patterns):
                return kind
        return OTHER

    def leg(self, *texts: str) -> str:
        """ "left", "right" or "" from a location or label text (first that tells)."""
        for text in texts:
            if not text:
                continue
            is_left = re.search(self.left, text) is not None
            is_right = re.search(self.right, text) is not None
            if is_left != is_right:
                return "left" if is_left else "right"
        return ""


def _matches(label: str, patterns: tuple[str, ...]) -> bool:
    low = label.strip().lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


# Stage spellings: RemLogic (SLEEP-S0..S4, SLEEP-REM, SLEEP-MT, SLEEP-UNSCORED), EDF+ /
# Sleep-EDF ("Sleep stage W/1/2/3/4/R/?"), AASM short names and R&K names. Stage 4 of
# R&K is N3 of the AASM (S3 + S4).
_STAGE_WORDS = {
    "w": WAKE,
    "wake": WAKE,
    "s0": WAKE,
    "0": WAKE,
    "1": N1,
    "s1": N1,
    "n1": N1,
    "2": N2,
    "s2": N2,
    "n2": N2,
    "3": N3,
    "s3": N3,
    "n3": N3,
    "4": N3,
    "s4": N3,
    "n4": N3,
    "r": REM,
    "rem": REM,
    "?": UNSCORED,
    "mt": UNSCORED,
    "m": UNSCORED,
    "movement time": UNSCORED,
    "unscored": UNSCORED,
    "artifact": UNSCORED,
    "artefact": UNSCORED,
}
_STAGE_RE = re.compile(r"^(?:sleep[-_ ]?stage|sleep[-_ ]|stage[-_ ]?)\s*(.+)$", re.IGNORECASE)


def stage_of(label: str) -> str | None:
    """The stage code a label names (W, N1, N2, N3, R or "" for unscored), or None
    when the label is not a sleep stage. Bare words (W, N2, REM) count only when they
    are exactly a stage name; prefixed ones (SLEEP-S2, Sleep stage 2, Stage 2) too."""
    text = label.strip()
    m = _STAGE_RE.match(text)
    if m:
        return _STAGE_WORDS.get(m.group(1).strip().lower())
    word = text.lower()
    if word in ("w", "wake", "n1", "n2", "n3", "n4", "r", "rem"):
        return _STAGE_WORDS[word]
    return None
