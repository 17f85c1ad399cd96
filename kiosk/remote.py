"""What the controller asks of this kiosk: commands and desired config.

Commands (``reload_config``, ``set_mode``, ``print_test_page``, ``self_test``,
``restart``) are admitted by :class:`kiosk.commands.CommandGate` (expiry, at most once per
id, also across restarts) and dispatched through a table; each gets a ``CommandResult``.
A desired config may change only :data:`REMOTE_KEYS` of the kiosk's config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from hall_contract.hallconfig import HallConfig
from hall_contract.messages import Command, CommandResult, DesiredConfig
from hall_contract.yamlconf import load_model
from kiosk.catalogue import Catalogue

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)

#: Desired-config keys the controller may change remotely.
REMOTE_KEYS = frozenset({"elderly_age", "language", "location", "rotation"})
#: ``set_mode`` arguments: default display mode, or out of service / back in service.
MODES = frozenset({"normal", "elderly", "maintenance", "service"})

Finish = Callable[[bool, str], None]


class Remote:
    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def on_command(self, cmd: Command) -> None:
        res = self.k.gate.admit(cmd, time.time())
        if res is not None:
            if res.message != "duplicate: already executed":
                self._result(res)
            return
        log.info("command %s %s", cmd.cmd, cmd.id)

        def finish(ok: bool, message: str) -> None:
            self._result(CommandResult(id=cmd.id, ok=ok, message=message[:200]))

        handler = self.HANDLERS.get(cmd.cmd)
        if handler is None:
            finish(False, f"unknown command {cmd.cmd!r}")
        else:
            handler(self, cmd, finish)

    def _result(self, res: CommandResult) -> None:
        if self.k.link is not None:
            self.k.link.command_result(res)

    # ------------------------------------------------------------------ commands
    def _reload_config(self, _cmd: Command, finish: Finish) -> None:
        finish(*self.reload_config())

    def _set_mode(self, cmd: Command, finish: Finish) -> None:
        k = self.k
        mode = str(cmd.args.get("mode"))
        if mode not in MODES:
            finish(False, f"unknown mode {mode!r}; one of {', '.join(sorted(MODES))}")
            return
        if mode in ("elderly", "normal"):
            k.default_elderly = mode == "elderly"
            k.set_elderly(k.default_elderly)
        else:
            k.mode = mode
            k.wipe()
        finish(True, f"mode {mode}")

    def _print_test_page(self, _cmd: Command, finish: Finish) -> None:
        self.k._bg(
            self.k.hw.print_test_page,
            lambda _r, e: finish(e is None, "printed" if e is None else str(e)),
            keep_session=False,
        )

    def _self_test(self, _cmd: Command, finish: Finish) -> None:
        k = self.k

        def done(r: Any, e: BaseException | None) -> None:
            if e is None:
                k.self_test_result = r
                finish(
                    all(v.startswith(("OK", "ready")) for v in r.values()),
                    "; ".join(f"{name}: {v}" for name, v in r.items()),
                )
            else:
                finish(False, str(e))
            k.changed()

        k._bg(k.hw.self_test, done, keep_session=False)

    def _restart(self, _cmd: Command, finish: Finish) -> None:
        finish(True, "restarting")
        self.k.wipe()
        self.k.restart_requested = True
        self.k.changed()

    HANDLERS: ClassVar[dict[str, Callable[[Remote, Command, Finish], None]]] = {
        "reload_config": _reload_config,
        "set_mode": _set_mode,
        "print_test_page": _print_test_page,
        "self_test": _self_test,
        "restart": _restart,
    }

    # ------------------------------------------------------------------ config
    def reload_config(self) -> tuple[bool, str]:
        k = self.k
        path = k.cfg.path(k.cfg.hall_config)
        try:
            hall = load_model(HallConfig, path)
        except Exception as err:
            return False, str(err).splitlines()[0][:200]
        k.hall = hall
        k.catalogue = Catalogue(hall)
        k.config_version = hall.version
        if k.link is not None:
            k.link.set_config_version(hall.version)
        k.wipe()
        return True, f"hall config version {hall.version}"

    def on_desired_config(self, desired: DesiredConfig) -> None:
        k = self.k
        update = {key: v for key, v in desired.config.items() if key in REMOTE_KEYS}
        try:
            cfg = type(k.cfg).model_validate(
                {**k.cfg.model_dump(), **update, "base_dir": k.cfg.base_dir}
            )
        except Exception as err:
            log.warning("desired config %s rejected: %s", desired.version, err)
            return
        k.cfg = cfg.model_copy(update={"base_dir": k.cfg.base_dir})
        k.config_version = desired.version
        if k.link is not None:
            k.link.set_config_version(desired.version)
        k.changed()
