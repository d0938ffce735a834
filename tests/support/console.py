"""A page object for the piranha-web console, written against its templates.

Selectors follow the console's contract: inputs carry the lvs.cf key as id
(``#nat_router``, ``#scheduler`` …), panels are reached through the tab ids
(``#tab-settings``, ``#subtab-real`` …) and every form has ``#accept``.
Rows of the VIRTUAL SERVERS / REAL SERVER lists are picked by their NAME
cell.  Every step saves a screenshot so a failing run can be read afterwards;
given ``forbidden`` strings (a test's temporary directories), a screenshot
of a page showing one of them fails the run instead (tests/support/docshots.py).
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .docshots import assert_clean
from .emulation import scaled

# one slow CPU under UML: a page can take several seconds; under qemu TCG the
# browser's first page stretches like every other bound (2.5 min)
STEP_TIMEOUT_MS = int(max(60, scaled(30)) * 1000)


class ConsoleError(AssertionError):
    """The console refused a form or showed an unexpected page."""


class Console:
    """Drives one logged-in browser page through the console panels."""

    def __init__(self, page: Any, base_url: str, shots: Path,
                 log: Callable[[str], None] = print, forbidden: Sequence[str] = ()) -> None:
        self.page = page
        self.forbidden = list(forbidden)
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.log = log
        self._n = 0
        shots.mkdir(parents=True, exist_ok=True)
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.set_default_navigation_timeout(STEP_TIMEOUT_MS)

    # -- helpers ------------------------------------------------------------
    def shot(self, name: str, *, full_page: bool = False) -> Path:
        """Screenshot the current page as NN-name.png in the shots directory."""
        assert_clean(self.page, self.forbidden)
        self._n += 1
        path = self.shots / f"{self._n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def messages(self) -> list[str]:
        """Flash messages shown on the current page."""
        return self.page.locator(".flash").all_inner_texts()

    def _accept(self, what: str) -> list[str]:
        """Click ACCEPT and fail with the console's own words if it refused."""
        start = time.monotonic()
        self.page.click("#accept")
        self.page.wait_for_load_state()
        errors = self.page.locator(".problems, .field-error, .conflict").all_inner_texts()
        if errors:
            self.shot(f"refused-{what}", full_page=True)
            raise ConsoleError(f"{what} not accepted: {errors}")
        msgs = self.messages()
        self.log(f"ACCEPT {what}: {msgs} ({time.monotonic() - start:.1f}s)")
        return msgs

    def _row(self, table: str, name: str) -> Any:
        # the inner locator of has= is evaluated relative to each row
        label = self.page.locator("td label", has_text=re.compile(f"^{re.escape(name)}$"))
        return self.page.locator(f"{table} tbody tr", has=label)

    def _act_on(self, table: str, name: str, button: str) -> None:
        self._row(table, name).locator("input[type=radio]").check()
        self.page.click(button)
        self.page.wait_for_load_state()

    def row_status(self, table: str, name: str) -> str:
        """STATUS cell (up/down) of the row called *name*."""
        return self._row(table, name).locator("td.status").inner_text().strip()

    # -- panels -------------------------------------------------------------
    def login(self, username: str, password: str) -> Path:
        """Open the console, log in (CONTROL/MONITORING follows); returns the login page's shot."""
        self.page.goto(self.base_url + "/")
        self.page.wait_for_selector("#username")
        login_shot = self.shot("login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#login")
        self.page.wait_for_selector("#tab-control")
        self.log(f"logged in as {username}: {self.page.title()}")
        return login_shot

    def global_settings(self, *, primary: str, nat_router: str, nat_nmask: str,
                        nat_router_device: str) -> None:
        """GLOBAL SETTINGS: primary IP, network type NAT, NAT router address/mask/device."""
        self.page.click("#tab-settings")
        self.page.fill("#primary", primary)
        self.page.check("#network_nat")
        self.page.fill("#nat_router", nat_router)
        self.page.select_option("#nat_nmask", nat_nmask)
        self.page.fill("#nat_router_device", nat_router_device)
        self.shot("global-settings")
        self._accept("GLOBAL SETTINGS")

    def fill_labelled(self, values: dict[str, str]) -> None:
        """Fill inputs and pick select options by their visible labels, as a user reads the panel."""
        for label, value in values.items():
            field = self.page.get_by_label(label, exact=True)
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)

    def global_settings_labelled(self, network: str, values: dict[str, str]) -> None:
        """GLOBAL SETTINGS through the labels: the network type's radio, then *values*."""
        self.page.click("#tab-settings")
        self.page.get_by_label(network, exact=True).check()
        self.fill_labelled(values)
        self.shot("global-settings")
        self._accept("GLOBAL SETTINGS")

    def add_virtual_server_labelled(self, values: dict[str, str]) -> None:
        """VIRTUAL SERVERS > ADD, the VIRTUAL SERVER sub-panel filled through its labels, ACCEPT."""
        self.open_virtual_servers()
        self.page.click("#add")
        self.page.wait_for_selector("#name")
        self.fill_labelled(values)
        self.shot("virtual-server")
        self._accept("VIRTUAL SERVER")

    def open_virtual_servers(self) -> None:
        """The VIRTUAL SERVERS list."""
        self.page.click("#tab-virtual")
        self.page.wait_for_selector("#virtual-list")

    def add_virtual_server(self, fields: dict[str, str], selects: dict[str, str]) -> None:
        """VIRTUAL SERVERS > ADD, fill the VIRTUAL SERVER sub-panel, ACCEPT."""
        self.open_virtual_servers()
        self.page.click("#add")
        self.page.wait_for_selector("#name")
        self._fill_virtual(fields, selects)
        self.shot("virtual-server")
        self._accept("VIRTUAL SERVER")

    def edit_virtual_server(self, name: str, fields: dict[str, str], selects: dict[str, str],
                            labelled: dict[str, str] | None = None) -> None:
        """VIRTUAL SERVERS > select *name* > EDIT, change fields (by id, or *labelled* by label), ACCEPT."""
        self.open_virtual_servers()
        self._act_on("#virtual-list", name, "#edit")
        self.page.wait_for_selector("#scheduler")
        self._fill_virtual(fields, selects)
        self.fill_labelled(labelled or {})
        self._accept(f"VIRTUAL SERVER {name}")

    def _fill_virtual(self, fields: dict[str, str], selects: dict[str, str]) -> None:
        for key, value in fields.items():
            self.page.fill(f"#{key}", value)
        for key, value in selects.items():
            self.page.select_option(f"#{key}", value)

    def toggle_virtual_server(self, name: str) -> str:
        """VIRTUAL SERVERS > select *name* > (DE)ACTIVATE; returns the new STATUS."""
        self.open_virtual_servers()
        self._act_on("#virtual-list", name, "#toggle")
        self.page.wait_for_selector("#virtual-list")
        status = self.row_status("#virtual-list", name)
        self.log(f"virtual server {name} (de)activated: {status} {self.messages()}")
        return status

    def open_real_servers(self, virtual: str) -> None:
        """VIRTUAL SERVERS > *virtual* > EDIT > REAL SERVER sub-panel."""
        if self.page.locator("#subtab-real").count() == 0:
            self.open_virtual_servers()
            self._act_on("#virtual-list", virtual, "#edit")
        self.page.click("#subtab-real")
        self.page.wait_for_selector("#real-list")

    def add_real_server(self, virtual: str, name: str, address: str, weight: int = 1) -> None:
        """REAL SERVER > ADD, fill Name/Address/Weight through their labels, ACCEPT."""
        self.open_real_servers(virtual)
        self.page.click("#add")
        self.page.wait_for_selector("#address")
        self.fill_labelled({"Name": name, "Address": address, "Weight": str(weight)})
        self._accept(f"REAL SERVER {name}")

    def set_real_weight(self, virtual: str, name: str, weight: int) -> None:
        """REAL SERVER > select *name* > EDIT, change the weight, ACCEPT."""
        self.open_real_servers(virtual)
        self._act_on("#real-list", name, "#edit")
        self.page.wait_for_selector("#weight")
        self.page.fill("#weight", str(weight))
        self._accept(f"REAL SERVER {name} weight {weight}")

    def toggle_real_server(self, virtual: str, name: str) -> str:
        """REAL SERVER > select *name* > (DE)ACTIVATE; returns the new STATUS."""
        self.open_real_servers(virtual)
        self._act_on("#real-list", name, "#toggle")
        self.page.wait_for_selector("#real-list")
        status = self.row_status("#real-list", name)
        self.log(f"real server {name} (de)activated: {status} {self.messages()}")
        return status

    def monitoring_scripts(self, virtual: str) -> None:
        """MONITORING SCRIPTS sub-panel: keep Piranha's HTTP send/expect, ACCEPT."""
        self.open_real_servers(virtual)
        self.page.click("#subtab-monitoring")
        self.page.wait_for_selector("#expect")
        self.log(f"send={self.page.input_value('#send')!r} expect={self.page.input_value('#expect')!r}")
        self._accept(f"MONITORING SCRIPTS {virtual}")

    def control(self) -> dict[str, Any]:
        """CONTROL/MONITORING: daemon line, IPVS table text, health by address, ADDRESS cells as shown."""
        self.page.click("#tab-control")
        self.page.wait_for_selector("#ipvs-table")
        health, written = {}, []
        for row in self.page.locator("table#health tbody tr").all():
            cells = [c.strip() for c in row.locator("td").all_inner_texts()]
            if len(cells) >= 4:
                health[address_of(cells[2])] = cells[3]
                written.append(cells[2])
        return {"daemon": self.page.inner_text("#pulse-state").strip(),
                "table": self.page.inner_text("#ipvs-table"), "health": health, "addresses": written}


def address_of(written: str) -> str:
    """The address in an ADDRESS cell: ``192.0.2.1:80``, ``[2001:db8:1::1]:80`` or a bare address."""
    if written.startswith("["):
        return written[1:written.index("]")]
    return written.rsplit(":", 1)[0] if written.count(":") == 1 else written
