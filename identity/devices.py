"""A sign-in's browser and system in words, from its User-Agent (the devices list)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(OPR|Opera)/")),
    ("Cốc Cốc", re.compile(r"\bcoc_coc_browser/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(HeadlessChrome|Chrome|Chromium|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMacintosh\b|\bMac OS X\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


@dataclass(frozen=True, slots=True)
class Device:
    """The browser and the system a sign-in came from; None where the User-Agent is unclear."""

    browser: str | None
    system: str | None
    phone: bool


def describe_agent(user_agent: str | None) -> Device:
    """The browser, the system and whether it is a phone, read from a User-Agent header."""
    text = (user_agent or "")[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), None)
    phone = system in ("iPhone", "Android") and "Mobile" in text or system == "iPhone"
    return Device(browser=browser, system=system, phone=phone)
