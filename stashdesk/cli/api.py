"""``stashdesk api key [--rotate]`` and ``stashdesk api info [--json]``: the engine API."""

from __future__ import annotations

import argparse
from typing import Any

from stashdesk.cli.connect import CommandContext, open_services
from stashdesk.cli.output import EXIT_OK, EXIT_USAGE, CommandError, print_json


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    api = sub.add_parser(
        "api", parents=[common], help="the engine API: its key, where it listens, its certificate"
    )
    asub = api.add_subparsers(dest="api_command", required=True)
    key = asub.add_parser(
        "key", parents=[common], help="print the API key other tools send as X-Api-Key"
    )
    key.add_argument(
        "--rotate",
        action="store_true",
        help="replace it first (clients using the old key are refused)",
    )
    info = asub.add_parser(
        "info", parents=[common], help="the API's URL(s) and its TLS certificate's fingerprint"
    )
    info.add_argument("--json", action="store_true")


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    if args.api_command == "key":
        return await _key(ctx, args.rotate)
    return await _info(ctx, args.json)


async def _key(ctx: CommandContext, rotate: bool) -> int:
    import asyncio

    from stashdesk.app import ensure_api_key

    if ctx.engine_url:
        raise CommandError(
            "`api key` prints this machine's key; run it where the engine "
            "runs (with its --data-dir)",
            EXIT_USAGE,
        )
    await ctx.open()
    if rotate:
        await ctx.ops.rotate_api_key()
    # The key is read here, from this folder's settings: no answer of the API carries it.
    await ctx.close()
    services = await asyncio.to_thread(open_services, ctx.data_dir)
    try:
        key = await services.store.write(lambda: ensure_api_key(services.settings))
    finally:
        await asyncio.to_thread(services.store.close)
    print(key)
    return EXIT_OK


async def _info(ctx: CommandContext, as_json: bool) -> int:
    await ctx.open()
    info = ctx.client.info if ctx.client is not None else {}
    running = ctx.engine_running
    if running:
        item = {
            "running": True,
            "url": info.get("url"),
            "local_url": info.get("local_url"),
            "tls": info.get("tls"),
            "fingerprint": info.get("fingerprint"),
            "pid": info.get("pid"),
            "mode": info.get("mode"),
            "version": info.get("version"),
        }
    else:
        item = await _configured(ctx)
    if as_json:
        print_json(item)
        return EXIT_OK
    if running:
        print(f"Engine API: {item['url']} ({item['mode']}, pid {item['pid']})")
        if item["local_url"] != item["url"]:
            print(f"On this machine: {item['local_url']}")
    else:
        print(
            f"StashDesk is not running; its API will listen on {item['listen']}"
            + (" with TLS" if item["tls"] else "")
        )
    if item.get("fingerprint"):
        print(f"TLS certificate SHA-256 fingerprint: {item['fingerprint']}")
    elif item.get("tls"):
        print("TLS certificate: made at the first start")
    print("Key: `stashdesk api key` (send it as the X-Api-Key header)")
    return EXIT_OK


async def _configured(ctx: CommandContext) -> dict[str, Any]:
    """Where a stopped engine would listen, from the settings."""
    from pathlib import Path

    from stashdesk.api.address import is_loopback, parse_listen
    from stashdesk.api.tls import CERT_FILE, certificate_fingerprint

    listen = (await ctx.ops.get_setting("api.listen"))["value"]
    tls_mode = (await ctx.ops.get_setting("api.tls"))["value"]
    cert_setting = (await ctx.ops.get_setting("api.tls_cert"))["value"]
    host, _port = parse_listen(listen)
    tls = tls_mode == "on" or not is_loopback(host)
    cert = Path(cert_setting) if cert_setting else ctx.data_dir / CERT_FILE
    return {
        "running": False,
        "listen": listen,
        "tls": tls,
        "fingerprint": certificate_fingerprint(cert) if tls and cert.exists() else None,
    }
