"""A post before it is fitted to a platform: required lines, then optional lines by priority."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Items:
    """A list line ("対象地区: a、b、c") that may be shortened to "a、b ほか3か所"."""

    label: str
    items: tuple[str, ...]

    def render(self, count: int | None = None) -> str:
        shown = self.items if count is None else self.items[:count]
        rest = len(self.items) - len(shown)
        tail = f" ほか{rest}か所" if rest else ""
        return f"{self.label}: {'、'.join(shown)}{tail}"


Line = str | Items


@dataclass
class Draft:
    required: list[str] = field(default_factory=list)
    optional: list[Line] = field(default_factory=list)

    def add(self, line: Line | None) -> None:
        if line and (not isinstance(line, Items) or line.items):
            self.optional.append(line)

    def full_text(self) -> str:
        return "\n".join([*self.required, *(_render(line) for line in self.optional)])


def _render(line: Line) -> str:
    return line.render() if isinstance(line, Items) else line
