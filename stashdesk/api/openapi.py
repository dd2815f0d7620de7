"""The OpenAPI 3.1 description of the engine API, built from the endpoint table."""

from __future__ import annotations

from functools import cache
from typing import Any

from stashdesk import __version__
from stashdesk.api.auth import KEY_HEADER, KEY_QUERY
from stashdesk.api.routes import API_PREFIX, ENDPOINTS

_SCHEMAS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "string", "description": "comma-separated"},
}

_ERROR = {
    "description": "One-line reason",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _SCHEMAS[endpoint.path_types.get(name, "str")],
            }
            for name in endpoint.path_params
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _SCHEMAS[kind]}
            for name, kind in endpoint.query.items()
        ]
        operation: dict[str, Any] = {
            "operationId": endpoint.operation
            + "".join(f"_{'all' if v is None else v}" for v in endpoint.fixed.values()),
            "summary": endpoint.summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "JSON (field names as the CLI's --json)"},
                "400": _ERROR,
                "401": {"description": "Missing or wrong API key"},
                "404": _ERROR,
                "409": _ERROR,
                "413": _ERROR,
            },
        }
        if endpoint.body or endpoint.body_as:
            fields: dict[str, dict[str, Any]] = {
                endpoint.aliases.get(n, n): {} for n in endpoint.body
            }
            operation["requestBody"] = {
                "required": bool(endpoint.body_as),
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": fields,
                            "additionalProperties": bool(endpoint.body_as),
                        }
                    }
                },
            }
        paths.setdefault(API_PREFIX + endpoint.path, {})[endpoint.method.lower()] = operation
    paths[f"{API_PREFIX}/events"] = {
        "get": {
            "operationId": "events",
            "summary": "The live event stream (WebSocket). Query: since "
            "and instance to resume; api_key accepted here. Frames: arrays of events "
            "{seq, type, ...fields}, and {type: hello|reset, instance, seq} objects.",
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": t}}
                for n, t in (("since", "integer"), ("instance", "string"), (KEY_QUERY, "string"))
            ],
            "responses": {"101": {"description": "Switching to WebSocket"}},
        }
    }
    paths[f"{API_PREFIX}/hello"] = {
        "post": {
            "operationId": "hello",
            "security": [],
            "summary": "The engine proves it holds the key: HMAC-SHA256(key, "
            "'stashdesk-engine:<port>:<nonce>') (no key needed)",
            "responses": {"200": {"description": "{proof, instance, version}"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "StashDesk engine API", "version": __version__},
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER}}
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }
