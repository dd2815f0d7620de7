"""Settings (secrets masked), connection tests, the API key."""

from __future__ import annotations

from typing import Any

from stashdesk.api.operations.common import (
    OperationsBase,
)
from stashdesk.clients.checks import CHECKS, check_group
from stashdesk.engine_client.errors import (
    BadRequest,
    NotFound,
)
from stashdesk.events import SettingsChanged
from stashdesk.options import OptionError
from stashdesk.redaction import MASK
from stashdesk.settings import SETTINGS, group_of, option_for


class SettingOperations(OperationsBase):
    """Operations on setting (see the module docstring)."""

    async def list_settings(self) -> dict[str, Any]:
        """Every setting with its declaration; secrets masked (``config list --json``)."""
        settings = self.services.settings
        items = []
        for option in SETTINGS:
            items.append(
                {
                    **option.to_spec(),
                    "value": settings.display(option.key)
                    if option.secret
                    else settings.get(option.key),
                    "default": None if option.secret else option.default,
                    "display": settings.display(option.key),
                    "group": group_of(option.key),
                    "is_set": settings.is_set(option.key),
                }
            )
        return {"items": items, "secrets_location": settings.secrets.location}

    async def get_setting(self, key: str) -> dict[str, Any]:
        option = self._option(key)
        settings = self.services.settings
        return {
            "key": key,
            "value": MASK
            if option.secret and settings.get(key)
            else settings.display(key)
            if option.secret
            else settings.get(key),
            "display": settings.display(key),
            "secret": option.secret,
        }

    @staticmethod
    def _option(key: Any) -> Any:
        try:
            return option_for(key if isinstance(key, str) else repr(key))
        except OptionError as exc:
            raise NotFound(str(exc)) from None

    async def set_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate every value, then save them all (or none)."""
        if not isinstance(values, dict) or not values:
            raise BadRequest("the body must be an object of setting values by key")
        settings = self.services.settings
        checked: dict[str, Any] = {}
        try:
            for key, value in values.items():
                checked[key] = self._option(key).validate(value)
        except OptionError as exc:
            raise BadRequest(str(exc)) from None
        await self.store.write(lambda: [settings.set(k, v) for k, v in checked.items()])
        self.bus.publish(SettingsChanged(keys=tuple(checked)))
        restart = [k for k in checked if option_for(k).restart_required]
        return {"saved": {k: settings.display(k) for k in checked}, "restart_required": restart}

    async def unset_setting(self, key: str) -> dict[str, Any]:
        self._option(key)
        settings = self.services.settings
        await self.store.write(lambda: settings.unset(key))
        self.bus.publish(SettingsChanged(keys=(key,)))
        return {"key": key, "value": settings.display(key)}

    async def rotate_api_key(self) -> dict[str, Any]:
        """Replace the API key. The answer does not contain it (no answer carries a
        secret): read it on the engine's machine with `stashdesk api key`."""
        from stashdesk.api.auth import API_KEY_SETTING, new_api_key

        settings = self.services.settings
        await self.store.write(lambda: settings.set(API_KEY_SETTING, new_api_key()))
        self.bus.publish(SettingsChanged(keys=(API_KEY_SETTING,)))
        return {"rotated": True}

    async def test_connection(
        self, group: str, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Try a service with ``values`` (typed but maybe not saved; missing or masked
        ones are the saved values)."""
        if group not in CHECKS:
            raise BadRequest(
                f"no connection test for {group!r} (there is one for {', '.join(CHECKS)})"
            )
        if values is not None and not isinstance(values, dict):
            raise BadRequest("values must be an object of setting values by key")
        settings = self.services.settings
        keys, _check = CHECKS[group]
        merged: dict[str, Any] = {}
        try:
            for key in keys:
                given = (values or {}).get(key)
                option = option_for(key)
                if given is None or given == MASK:
                    given = settings.get(key)
                merged[key] = option.validate(given)
                if option.type == "url":  # a masked password means the stored one
                    merged[key] = (
                        settings.with_stored_credentials(key, merged[key])
                        if "***@" in merged[key]
                        else merged[key]
                    )
        except OptionError as exc:
            raise BadRequest(str(exc)) from None
        steps = await check_group(group, merged)
        return {
            "group": group,
            "ok": all(s.ok for s in steps),
            "steps": [s.to_json() for s in steps],
        }
