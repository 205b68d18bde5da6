"""Outbound policy checks: each family is a pure function; `CheckEngine` composes them.

```python
engine = default_engine()
result = engine.check(CheckInput(message, municipality, accounts))
report = evaluate_file(Path("tests/corpus"), engine)   # gateway check --evaluate
```
"""

from gateway.pipeline.checks.context import CheckInput
from gateway.pipeline.checks.engine import DEFAULT_ALT_TEXT_LIMITS, CheckEngine, default_engine
from gateway.pipeline.checks.evaluate import EvaluationReport, evaluate_file, main_evaluate

__all__ = ["DEFAULT_ALT_TEXT_LIMITS", "CheckEngine", "CheckInput", "EvaluationReport", "default_engine",
           "evaluate_file", "main_evaluate"]
