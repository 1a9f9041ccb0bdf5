"""FastAPI's "hello world": the framework's own cost over the bare ASGI ceiling.

The same small JSON as bench/apps/bare.py, through routing, a dependency-free async endpoint
and FastAPI's JSON response.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    """Answer with a small fixed JSON."""
    return {"message": "Hello World"}
