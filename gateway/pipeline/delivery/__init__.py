"""The workers: claim, publish, the retry decision and its delay, reconciling uncertain outcomes."""
