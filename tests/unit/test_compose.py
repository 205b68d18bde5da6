"""docker-compose.yml and Dockerfile: structure, and every `gateway ...` they run really exists.

No Docker engine runs here, so this is what can be checked without one: the compose services and
their ordering (postgres healthy -> migrate completed -> two replicas), the shared database, the
health checks, and that each command line parses with the real CLI parser.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli.main import build_parser
from gateway.web.app import build_app

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = ("gateway-1", "gateway-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def _argv(command: Any) -> list[str]:
    """A compose/Dockerfile command (exec list or shell string) as an argv list."""
    if isinstance(command, list):
        return [str(part) for part in command]
    text = str(command).strip()
    if text.startswith("["):
        return [str(part) for part in json.loads(text)]
    return shlex.split(text)


def _instructions(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instruction, args in dockerfile if instruction == name]


# -- compose structure ----------------------------------------------------------------------------

def test_services(services: dict[str, Any]) -> None:
    assert {"postgres", "migrate", *REPLICAS} <= set(services)
    assert services["postgres"]["image"].split(":")[1].startswith("15")


def test_postgres_healthcheck_uses_pg_isready(services: dict[str, Any]) -> None:
    check = services["postgres"]["healthcheck"]
    assert "pg_isready" in " ".join(_argv(check["test"]))
    assert check["retries"] >= 1


def test_migrate_runs_db_upgrade_once_postgres_is_healthy(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert _argv(migrate["command"]) == ["gateway", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"  # one-shot: a restart loop would hide a failed migration


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_waits_for_migration_and_database(services: dict[str, Any], name: str) -> None:
    depends = services[name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_health_check_hits_healthz(services: dict[str, Any], name: str) -> None:
    test = _argv(services[name]["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL")
    assert "/healthz" in " ".join(test)


def test_replicas_share_one_postgres_database(services: dict[str, Any]) -> None:
    urls = {services[name]["environment"]["GATEWAY_DATABASE_URL"] for name in (*REPLICAS, "migrate")}
    assert len(urls) == 1
    url = urls.pop()
    assert url.startswith(("postgresql://", "postgresql+asyncpg://"))
    assert "@postgres:5432/" in url  # the compose service name, not localhost


def test_replicas_publish_distinct_host_ports(services: dict[str, Any]) -> None:
    host_ports = [str(port).rsplit(":", 1)[0] for name in REPLICAS for port in services[name]["ports"]]
    assert len(host_ports) == len(set(host_ports)) == len(REPLICAS)


def test_replicas_share_var_for_credentials_and_media(services: dict[str, Any]) -> None:
    mounts = [set(services[name].get("volumes", [])) for name in REPLICAS]
    assert mounts[0] == mounts[1] and any(m.endswith(":/app/var") for m in mounts[0])


# -- Dockerfile -----------------------------------------------------------------------------------

def test_dockerfile_base_user_port(dockerfile: list[tuple[str, str]]) -> None:
    assert _instructions(dockerfile, "FROM") == ["python:3.11-slim"]
    users = _instructions(dockerfile, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "8080" in _instructions(dockerfile, "EXPOSE")
    assert any(args.split()[0] == "config" for args in _instructions(dockerfile, "COPY"))
    assert any("pip install ." in args for args in _instructions(dockerfile, "RUN"))


def test_dockerfile_default_command(dockerfile: list[tuple[str, str]]) -> None:
    assert _argv(_instructions(dockerfile, "CMD")[-1]) == ["gateway", "serve", "--host", "0.0.0.0"]


def test_dockerfile_healthcheck_path_is_a_route_the_app_serves(dockerfile: list[tuple[str, str]]) -> None:
    (healthcheck,) = _instructions(dockerfile, "HEALTHCHECK")
    paths = re.findall(r"'(/[a-z]+)'", healthcheck)
    assert paths == ["/healthz"]
    # build_app only stores the gateway; routing needs no database, so the real route table is checked.
    app = build_app(None)  # type: ignore[arg-type]
    served = {resource.canonical for resource in app.router.resources()}
    assert "/healthz" in served


# -- every command line is a real `gateway` subcommand ---------------------------------------------

def _gateway_commands(services: dict[str, Any], dockerfile: list[tuple[str, str]]) -> list[list[str]]:
    commands = [_argv(service["command"]) for service in services.values() if "command" in service]
    commands += [_argv(args) for args in _instructions(dockerfile, "CMD")]
    return [argv for argv in commands if argv and argv[0] == "gateway"]


def test_every_gateway_command_parses(services: dict[str, Any], dockerfile: list[tuple[str, str]]) -> None:
    commands = _gateway_commands(services, dockerfile)
    assert ["gateway", "db", "upgrade"] in commands
    assert sum(argv[1] == "serve" for argv in commands) >= 3  # Dockerfile + two replicas
    for argv in commands:
        args = build_parser().parse_args(argv[1:])  # SystemExit (a test error) for an unknown command
        assert callable(args.func)


def test_parser_check_can_fail() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["db", "migrate"])
