"""Telling people what needs them: approvers of posts waiting, authors of send-backs, operators of
failures, held alerts and hijack alerts, by e-mail and by webhook, per city.

`gateway/policy_notifications.py` is the city TOML's `[notifications]` table (pure values, loaded with the policy);
`store/outbox.py` writes each event into the outbox in the event's own transaction; `notifier.py`
sends them from the worker with retries (texts in `texts.py`, transports in `transports.py`).
"""
