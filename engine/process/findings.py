"""What validate, lint and deploy say about a diagram: findings that name the element, its line and a fix."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from engine.infra.errors import InvalidDiagram

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem in one element of one file; errors refuse a deploy, warnings are shown."""

    code: str  # a short kebab-case name, e.g. "no-end-event"
    message: str
    file: str | None = None
    element_id: str | None = None
    element_name: str | None = None
    line: int | None = None
    fix: str | None = None
    severity: str = ERROR

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file or "<bundle>"
        if self.line:
            where += f" line {self.line}"
        if self.element_id:
            where += f" {self.element_id!r}" + (f" ({self.element_name})" if self.element_name else "")
        return f"{where}: {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


def refuse(findings: list[Finding]) -> None:
    """Raise InvalidDiagram listing every error finding (the message names the first ones); no-op without errors."""
    errors = [f for f in findings if f.severity == ERROR]
    if not errors:
        return
    head = "; ".join(str(f) for f in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    raise InvalidDiagram(head + more, [f.as_dict() for f in findings])
