"""Helpers shared by the dashboard tests (a uniquely named module: ``import conftest`` is ambiguous when several
test folders put their own conftest.py on sys.path in one pytest run)."""

from __future__ import annotations

import re
from typing import Any

PC = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def csrf_token(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(client: Any, username: str, password: str) -> Any:
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})
