"""Fit a Draft to a platform's text limit.

Each platform's limit is counted as it declares (models.PLATFORM_SPECS): twitter-text's weighted length (CJK = 2),
UTF-16 units, or characters. Required lines always stay; optional lines are added in
priority order while they fit, list lines are shortened ("ほか3か所") before being dropped, and
only if the required lines alone are too long is the text cut with an ellipsis (the start, with
【訓練】 and the lifecycle marks, is always kept). The footer — the issue time — always stays.
"""

from __future__ import annotations

from gateway.adapters.render import Fits, fits_x, truncate_to, utf16_len
from gateway.alerts.draft import Draft, Items, with_footer
from gateway.models import PLATFORM_SPECS, Platform, PlatformSpec


def fits_for(declared: PlatformSpec) -> Fits:
    """Whether a text fits a platform's text limit, counted as the platform counts it."""
    limit = declared.limits.max_text
    if declared.counted_in == "x_weighted":
        return fits_x
    if declared.counted_in == "utf16":
        return lambda text: utf16_len(text) <= limit
    return lambda text: len(text) <= limit


# The platforms that carry a text-only alert, and how each one's text is measured.
FITS: dict[Platform, Fits] = {platform: fits_for(declared) for platform, declared in PLATFORM_SPECS.items()
                              if declared.carries_text_only}
TEXT_PLATFORMS = frozenset(FITS)


def fit(draft: Draft, platform: Platform) -> str:
    limit = FITS[platform]
    full = draft.full_text()
    if limit(full):
        return full

    def fits(text: str) -> bool:
        return limit(with_footer(text, draft.footer))

    text = "\n".join(draft.required)
    if not fits(text):
        return truncate_to(text, limit, tail=f"\n{draft.footer}" if draft.footer else "")
    for line in draft.optional:
        text = _with_line(text, line, fits)
    return with_footer(text, draft.footer)


def _with_line(text: str, line: str | Items, fits: Fits) -> str:
    if isinstance(line, str):
        candidate = f"{text}\n{line}"
        return candidate if fits(candidate) else text
    low, high = 0, len(line.items)  # the most items that fit: binary search, fitting grows with count
    while low < high:
        mid = (low + high + 1) // 2
        if fits(f"{text}\n{line.render(mid)}"):
            low = mid
        else:
            high = mid - 1
    return f"{text}\n{line.render(low)}" if low else text
