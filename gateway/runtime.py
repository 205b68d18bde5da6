"""The composition root: settings in, a running Gateway (and, in sandbox mode, the sandbox) out.

`serve`, `demo` and the tests build everything here, once. In sandbox mode the sandbox platform
servers start in-process and the real adapters are pointed at them with the sandbox's
credentials: there is no separate fake path.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from gateway.adapters import adapter_types, build_adapters, platform_settings
from gateway.adapters.base import Adapter
from gateway.connections import ConnectionService
from gateway.credentials import ChainedCredentials, CredentialSource, StaticCredentials
from gateway.media import MediaStore, PublicLinks
from gateway.models import Platform
from gateway.notifications.notifier import NoticeRetry, Notifier
from gateway.pipeline.checks import CheckEngine, default_engine
from gateway.pipeline.checks.runner import CheckRunner, InlineRunner, ProcessRunner
from gateway.pipeline.delivery.dispatch import Clock, Dispatcher, utcnow
from gateway.pipeline.delivery.reconcile import Reconciler
from gateway.pipeline.delivery.retry import RetryPolicy
from gateway.policy import Policies, load_policies
from gateway.private_files import load_or_create_secret
from gateway.services.accounts import HIJACK_SCAN_SECONDS, AccountService
from gateway.services.messages import Gateway
from gateway.settings import Settings
from gateway.store import open_store, upgrade_async
from gateway.store.base import Store
from gateway.worker import Worker


@dataclass
class Runtime:
    settings: Settings
    policies: Policies
    store: Store
    gateway: Gateway
    worker: Worker  # the background work (started by `open_runtime` with `start`)
    adapters: Mapping[Platform, Adapter]
    media: MediaStore
    sandbox: Any | None = None  # gateway.sandbox.app.SandboxServer in sandbox mode
    accounts: AccountService | None = None  # account health, stops, hijack scan
    connections: ConnectionService | None = None  # connecting accounts from the console, token renewal


def all_accounts(policies: Policies) -> dict[str, Any]:
    return {account.id: account for municipality in policies for account in municipality.accounts}


def sandbox_settings(settings: Settings, base_url: str) -> Settings:
    """The same settings with every platform's base URL pointed at the sandbox (under a prefix of its own
    where two platforms' paths take the same shapes: the sandbox's BASE_PATHS)."""
    from gateway.sandbox.app import BASE_PATHS
    from gateway.sandbox.credentials import sandbox_app_client

    update: dict[str, Any] = {}
    for platform in Platform:
        moved = _pointed(platform_settings(settings, platform), platform, base_url,
                         base_url + BASE_PATHS.get(platform, ""))
        if hasattr(moved, "client_id"):  # the sandbox's own app registration, for connecting accounts
            client_id, client_secret = sandbox_app_client(platform)
            moved = moved.model_copy(update={"client_id": client_id, "client_secret": SecretStr(client_secret)})
        update[platform.value] = moved
    return settings.model_copy(update=update)  # each platform's section, as its adapter's settings class


def _pointed(platform_settings: Any, platform: Platform, sandbox_url: str, api_url: str) -> Any:
    """A platform's settings sending to the sandbox, and linking posts to the sandbox's page of them
    (a sandbox post does not exist on the platform's own site)."""
    from gateway.sandbox.app import OPEN_PATH

    moved = platform_settings.served_at(api_url)
    if "web_url" in type(moved).model_fields:
        moved = moved.model_copy(update={"web_url": f"{sandbox_url}{OPEN_PATH}/{platform.value}"})
    return moved


def live_credentials(settings: Settings) -> CredentialSource:
    """Environment first, then the encrypted file (when a key is configured)."""
    from gateway.credentials import ChainedCredentials, EncryptedCredentialFile, EnvironmentCredentials, keys_from

    environment = EnvironmentCredentials(settings.account_credentials)
    if settings.credentials_key is None and settings.credentials_key_file is None:
        return environment
    return ChainedCredentials(environment, EncryptedCredentialFile(settings.credentials_file, keys_from(settings)))


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, clock: Clock = utcnow, migrate: bool = True, start: bool = True,
    adapters: Mapping[Platform, Adapter] | None = None, engine: CheckEngine | None = None,
    sandbox_latency_s: float = 0.0, worker_id: str | None = None, check_processes: bool | None = None,
    offline: bool = False,
) -> AsyncIterator[Runtime]:
    """Build and (with `start`) run the gateway; everything is closed on exit.

    Checks run in worker processes when the gateway is started here (or `check_processes` says so),
    in-process otherwise (one-off commands) or when `engine` is given. `offline`: no adapter and no
    sandbox at all (a one-off command records and plans; a running `serve` publishes)."""
    policies = load_policies(settings.config_dir)
    if migrate:
        await upgrade_async(settings.database_url)
    store = await open_store(settings.database_url, clock=clock, pool_size=settings.database_pool_size)
    media = MediaStore(settings.media_root, links=media_links(settings))
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.aclose)
        sandbox = None
        drill_adapters: Mapping[Platform, Adapter] | None = adapters
        platforms = frozenset(adapter_types()) if offline else None
        if offline:
            adapters = drill_adapters = {}
        elif adapters is None:
            adapters, sandbox = await _platform_adapters(settings, policies, media, stack, sandbox_latency_s)
            drill_adapters = adapters if settings.platforms == "sandbox" else await _drill_adapters(
                settings, policies, media, stack)
        checks = _check_runner(settings, engine, processes=start if check_processes is None else check_processes)
        stack.push_async_callback(checks.aclose)
        gateway = _build_gateway(settings, policies, store, adapters, media, checks, clock, worker_id, drill_adapters,
                                 platforms)
        worker = _build_worker(settings, gateway)
        if start:
            await worker.start()
            stack.push_async_callback(worker.stop)
            if not settings.is_sqlite:
                await _listen_for_wake_ups(settings, gateway, stack)
        accounts = _account_service(settings, policies, store, adapters, gateway, clock)
        if start:
            worker.supervisor.run(
                "accounts", lambda beat: accounts.run_periodic(HIJACK_SCAN_SECONDS, beat=beat), every=15.0)
        connections = _connection_service(settings, policies, store, sandbox, clock)
        if start:
            notifier = _notifier(settings, policies, store, clock)
            stack.push_async_callback(notifier.aclose)
            worker.supervisor.run("notifications", notifier.run, every=max(60.0, settings.notification_poll_seconds))
        if start:
            worker.supervisor.run("token-refresh", lambda beat: connections.run_periodic(
                settings.token_refresh_seconds, beat=beat), every=max(60.0, settings.token_refresh_seconds))
        yield Runtime(settings, policies, store, gateway, worker, adapters, media, sandbox, accounts,
                      connections)


def _notifier(settings: Settings, policies: Policies, store: Store, clock: Clock) -> Notifier:
    """The outbox's sender; a destination whose secret is missing is skipped with a warning, never a failed start."""
    console_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    retry = NoticeRetry(give_up_after=timedelta(hours=settings.notification_give_up_hours))
    notifier = Notifier(store=store, policies=policies, secrets=settings.notification_secrets,
                        console_url=console_url, clock=clock, retry=retry,
                        poll_seconds=settings.notification_poll_seconds)
    notifier.configuration_problems()
    return notifier


def _credential_file(settings: Settings) -> Any | None:
    """The encrypted credentials file, when a key is configured (gateway.credentials.EncryptedCredentialFile)."""
    if settings.credentials_key is None and settings.credentials_key_file is None:
        return None
    from gateway.credentials import EncryptedCredentialFile

    return EncryptedCredentialFile.from_settings(settings)


def _connection_service(settings: Settings, policies: Policies, store: Store, sandbox: Any | None,
                        clock: Clock) -> ConnectionService:
    """Connectors pointed where the adapters are: the sandbox's authorisation endpoints in sandbox mode."""
    from gateway.adapters import build_connectors

    platform_settings = sandbox_settings(settings, sandbox.base_url) if sandbox is not None else settings
    return ConnectionService(store=store, policies=policies, credentials=_credential_file(settings),
                             connectors=build_connectors(platform_settings, clock), clock=clock,
                             public_url=settings.public_url)


def _check_runner(settings: Settings, engine: CheckEngine | None, *, processes: bool) -> CheckRunner:
    """Worker processes for a running gateway; the engine in-process for one-off commands (nothing
    else shares their loop), for a given engine, or when `check_workers` is 0."""
    if engine is not None or not processes or settings.check_workers == 0:
        return InlineRunner(engine or default_engine())
    return ProcessRunner(routine=settings.check_workers, budget_s=settings.check_budget_seconds,
                         queue_s=settings.check_queue_seconds)


def _account_service(
    settings: Settings, policies: Policies, store: Store, adapters: Mapping[Platform, Adapter], gateway: Gateway,
    clock: Clock,
) -> AccountService:
    rows: Callable[[], dict[str, dict[str, object]]] | None = None
    if settings.credentials_key is not None or settings.credentials_key_file is not None:
        from gateway.credentials import EncryptedCredentialFile

        credential_file = EncryptedCredentialFile.from_settings(settings)

        def rows() -> dict[str, dict[str, object]]:  # set_at per account, for credential age (木更津 7(2))
            return {str(row["account"]): row for row in credential_file.list_masked()}

    return AccountService(store=store, policies=policies, adapters=adapters, credentials_rows=rows, clock=clock,
                          wake=gateway.dispatcher.wake)


async def _platform_adapters(
    settings: Settings, policies: Policies, media: MediaStore, stack: contextlib.AsyncExitStack, latency_s: float,
) -> tuple[dict[Platform, Adapter], Any | None]:
    accounts = all_accounts(policies)
    sandbox = None
    credentials: CredentialSource
    if settings.platforms == "sandbox":
        from gateway.sandbox.app import SandboxServer, sandbox_state_for

        state = sandbox_state_for({a.id: a.platform for a in accounts.values()}, latency_s=latency_s)
        sandbox = await stack.enter_async_context(SandboxServer(state, port=settings.sandbox_port))
        settings = sandbox_settings(settings, sandbox.base_url)
        credentials = StaticCredentials(sandbox.credentials())
        connected = _credential_file(settings)
        if connected is not None:  # accounts connected from the console use what the sandbox issued them
            credentials = ChainedCredentials(connected, credentials)
    else:
        credentials = live_credentials(settings)
    adapters = build_adapters(settings, credentials, accounts, media)
    for adapter in adapters.values():
        stack.push_async_callback(adapter.aclose)
    return adapters, sandbox


async def _listen_for_wake_ups(settings: Settings, gateway: Gateway, stack: contextlib.AsyncExitStack) -> None:
    """PostgreSQL: other replicas' NOTIFYs wake this dispatcher (no polling delay across processes)."""
    from gateway.models import Priority
    from gateway.store.accounts import STOPS_CHANGED
    from gateway.store.notify import WakeListener

    def wake(payload: str) -> None:
        if payload == STOPS_CHANGED:
            gateway.store.stops_changed()
            return
        try:
            gateway.dispatcher.wake(Priority(payload))
        except ValueError:
            gateway.dispatcher.wake()

    listener = WakeListener(settings.database_url, wake)
    await listener.start()
    stack.push_async_callback(listener.stop)


async def _drill_adapters(
    settings: Settings, policies: Policies, media: MediaStore, stack: contextlib.AsyncExitStack,
) -> dict[Platform, Adapter]:
    """In live mode, drills still go only to a sandbox started for them."""
    sandbox_only = settings.model_copy(update={"platforms": "sandbox"})
    adapters, _ = await _platform_adapters(sandbox_only, policies, media, stack, 0.0)
    return adapters


def media_links(settings: Settings) -> PublicLinks | None:
    """Signed public addresses of uploaded files, when the gateway has a public URL."""
    if not settings.public_url:
        return None
    if settings.media_links_secret is not None:
        key = hashlib.sha256(settings.media_links_secret.get_secret_value().encode()).digest()
    else:
        key = load_or_create_secret(settings.var_dir / "media-links.key")
    return PublicLinks(settings.public_url, key)


def _build_gateway(
    settings: Settings, policies: Policies, store: Store, adapters: Mapping[Platform, Adapter], media: MediaStore,
    checks: CheckRunner, clock: Clock, worker_id: str | None, drill_adapters: Mapping[Platform, Adapter] | None,
    platforms: frozenset[Platform] | None = None,
) -> Gateway:
    retry = RetryPolicy(settings.backoff_base_seconds, settings.backoff_max_seconds, settings.max_attempts)
    dispatcher = Dispatcher(
        store=store, policies=policies, adapters=adapters, retry=retry,
        routine_workers=settings.routine_workers, emergency_workers=settings.emergency_workers,
        lease_seconds=settings.lease_seconds, poll_seconds=settings.poll_seconds, clock=clock, worker_id=worker_id,
        drill_adapters=drill_adapters,
    )
    return Gateway(store=store, policies=policies, checks=checks, adapters=adapters, dispatcher=dispatcher,
                   media=media, clock=clock, platforms=platforms)


def _build_worker(settings: Settings, gateway: Gateway) -> Worker:
    reconciler = Reconciler(gateway.store, gateway.policies, gateway.adapters,
                            settle_seconds=settings.reconcile_after_seconds,
                            emergency_settle_seconds=settings.reconcile_emergency_after_seconds,
                            worker_stale_seconds=settings.worker_stale_seconds)
    return Worker(gateway, reconciler=reconciler, housekeeping_seconds=settings.poll_seconds)
