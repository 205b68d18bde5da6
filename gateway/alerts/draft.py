"""A post before it is fitted to a platform: required lines, optional lines by priority, and a footer.

The footer (the issue time and issuer) is never dropped: fitting shortens the other lines first.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Items:
    """A list line ("対象地区: a、b、c") that may be shortened to "a、b ほか3か所"."""

    label: str
    items: tuple[str, ...]
    sep: str = "、"  # other languages bring their own separator and "and 3 more"
    more: str = " ほか{n}か所"

    def render(self, count: int | None = None) -> str:
        shown = self.items if count is None else self.items[:count]
        rest = len(self.items) - len(shown)
        tail = self.more.format(n=rest) if rest else ""
        return f"{self.label}: {self.sep.join(shown)}{tail}"


Line = str | Items


@dataclass
class Draft:
    required: list[str] = field(default_factory=list)
    optional: list[Line] = field(default_factory=list)
    footer: str = ""

    def add(self, line: Line | None) -> None:
        if line and (not isinstance(line, Items) or line.items):
            self.optional.append(line)

    def body(self) -> str:
        """Everything but the footer: what the post says, whenever it was issued."""
        return "\n".join([*self.required, *(_render(line) for line in self.optional)])

    def full_text(self) -> str:
        return with_footer(self.body(), self.footer)


def with_footer(text: str, footer: str) -> str:
    return f"{text}\n{footer}" if footer else text


def _render(line: Line) -> str:
    return line.render() if isinstance(line, Items) else line
