"""`gateway serve` and `gateway sandbox`: run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from gateway.errors import InputError
from gateway.logs import configure_logging
from gateway.ports import SERVE_CHANGE, listen
from gateway.private_files import secure_var
from gateway.runtime import open_runtime
from gateway.settings import Settings
from gateway.store.engine import redacted
from gateway.web.app import build_app
from gateway.web.console.session import console_secret


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(settings: Settings) -> int:
    configure_logging(settings.log_level)
    secure_var(settings)
    async with open_runtime(settings) as runtime:
        secret = settings.alert_hmac_secret.get_secret_value().encode() if settings.alert_hmac_secret else None
        app = build_app(runtime.gateway, max_body_bytes=settings.max_body_bytes, alert_secret=secret,
                        alert_window_s=settings.alert_replay_window_s, session_secret=console_secret(settings),
                        accounts=runtime.accounts, worker=runtime.worker, connections=runtime.connections)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await listen(web.TCPSite(runner, settings.host, settings.port).start, port=settings.port,
                         what="ゲートウェイ", change=SERVE_CHANGE)
        except InputError:
            await runner.cleanup()
            raise
        print(f"koho-gateway: http://{settings.host}:{settings.port}/  (API /api/v1, /openapi.json, /metrics)",
              flush=True)
        print(f"  database: {redacted(settings.database_url)}", flush=True)
        print(f"  media store: {runtime.media.root}", flush=True)
        if runtime.sandbox is not None:
            print(f"  platforms: sandbox {runtime.sandbox.base_url}/_sandbox/", flush=True)
        else:
            print("  platforms: live", flush=True)
        print("  API token: gateway token create --user NAME --role staff|approver|operator|alert_system|admin",
              flush=True)
        try:
            await _until_stopped()
        finally:
            await runner.cleanup()
    return 0


async def serve_sandbox(settings: Settings, *, host: str, port: int, latency_s: float = 0.0) -> int:
    from gateway.policy import load_policies
    from gateway.sandbox.app import BASE_PATHS, SandboxServer, sandbox_state_for

    configure_logging(settings.log_level)
    policies = load_policies(settings.config_dir)
    accounts = {a.id: a.platform for m in policies for a in m.accounts}
    async with SandboxServer(sandbox_state_for(accounts, latency_s=latency_s), host=host, port=port) as server:
        print(f"sandbox: {server.base_url}/_sandbox/", flush=True)
        for platform, path in BASE_PATHS.items():
            print(f"{platform.value} base URL: {server.base_url}{path}", flush=True)
        print("accepted credentials (sandbox only, not secrets of any real account):", flush=True)
        for account, fields in sorted(server.credentials().items()):
            print(f"  {account}: " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)
        await _until_stopped()
    return 0
