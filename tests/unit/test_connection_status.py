"""What the accounts page says of a connected account's tokens (`ConnectionStatus`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.connections import ConnectionStatus

T0 = datetime(2026, 12, 5, tzinfo=UTC)


def test_a_failed_renewal_shows_until_something_works_again() -> None:
    assert not ConnectionStatus().failing
    failed = ConnectionStatus(connected_at=T0, failed_at=T0 + timedelta(hours=1), failure="invalid_grant")
    assert failed.failing
    assert not ConnectionStatus(connected_at=T0, failed_at=T0 + timedelta(hours=1),
                                refreshed_at=T0 + timedelta(hours=2)).failing
    # Connecting the account again from the console is what the admin is asked to do: it clears the failure.
    assert not ConnectionStatus(connected_at=T0 + timedelta(hours=2), failed_at=T0 + timedelta(hours=1)).failing
    assert ConnectionStatus(connected_at=T0, refreshed_at=T0 + timedelta(hours=1),
                            failed_at=T0 + timedelta(hours=3)).failing
