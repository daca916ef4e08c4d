"""The baseline: a bare Starlette endpoint returning the balance JSON (no auth, no database)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def balance(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "data": {"balance": 10}})


app = Starlette(routes=[Route("/api/users/balance", balance)])
