"""The auditor console: search the trail, event detail with its proof, export, checkpoints."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
