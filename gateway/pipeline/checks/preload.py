"""Imported by the check workers' fork server: loads the language model and the trained classifier
once, before any worker is forked, so that no worker (least of all the emergency one) pays for it. A
failure here is left to the worker, which loads the model itself and reports why it could not."""

from __future__ import annotations

import contextlib

from gateway.pipeline.checks import classifier, language

with contextlib.suppress(Exception):
    language.load()
with contextlib.suppress(Exception):
    classifier.load()
