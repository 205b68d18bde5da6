"""The commands the web layer and the CLI call: messages, alerts, accounts, users (the running process: worker.py)."""
