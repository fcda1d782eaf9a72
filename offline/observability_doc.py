"""docs/observability.md's generated block: the alerts the committed prod stack registers, with
their conditions' durations, thresholds and severities (components/observability/alerts.py).
`python -m offline.observability_doc` rewrites it; tests/test_observability_doc.py fails when the
page and the code disagree."""

from __future__ import annotations

from components.config import load
from components.observability import alerts
from offline import readme, runner

PAGE = runner.ROOT / "docs" / "observability.md"
BLOCK = "alert-table"


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds else f"{seconds} s"


def render(stack: str = "prod") -> str:
    cfg = load(runner.stack_config(stack)["astro-gke-gpu:platform"])
    lines = [
        f"Registered for the committed `{stack}` stack (`make preview STACK={stack}` prints the PromQL):",
        "",
        "| alert | holds for | severity | fires when |",
        "|---|---|---|---|",
    ]
    for rule in alerts.rules(cfg):
        lines.append(
            f"| `{rule.alert}` | {_minutes(rule.for_seconds) if rule.for_seconds else 'at once'} "
            f"| {rule.severity} | {rule.summary} |"
        )
    targets = alerts.pending_targets(cfg)
    lines += [
        "",
        "Pending thresholds, from the budget KPO gets (`gpu_scheduling`) less "
        f"{alerts.PENDING_LEAD_SECONDS} s:",
        "",
        "| pool or class | KPO schedule budget | alert after |",
        "|---|---|---|",
        *(f"| `{t.name}` | {t.schedule_seconds} s | {t.threshold} s |" for t in targets),
    ]
    return "\n".join(lines)


def write() -> None:
    text = PAGE.read_text()
    begin, end = readme.markers(BLOCK)
    begin = begin.replace("python -m offline.readme", "python -m offline.observability_doc")
    start, stop = text.index(begin) + len(begin), text.index(end)
    PAGE.write_text(text[:start] + "\n" + render() + "\n" + text[stop:])


if __name__ == "__main__":
    write()
