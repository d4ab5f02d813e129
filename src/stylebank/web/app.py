"""The studio's Starlette app: the page and its static files, and the HTTP API.

- ``GET /api/styles``: the model's styles as JSON (index, name, the URL of its style image) and the limits;
- ``GET /api/styles/{index}/image``: a style's image (PNG);
- ``POST /api/stylize`` (multipart): ``image``, ``style``, ``strength``, ``preserve_color``, ``mask`` with
  ``region_styles`` (or ``regions=kmeans:K``), ``max_size`` -> ``image/png`` with the settings in its metadata;
- ``POST /api/regions`` (multipart): ``image``, ``regions`` (K), ``max_size`` -> K-means labels as a grey PNG;
- ``POST /api/styles`` (multipart): ``image`` (a painting), ``name`` -> 202 ``{"job": id}``: quick add-style
  learns it in the background into the model in memory (the file on disk never changes);
  ``GET /api/jobs/{id}``: its state, progress and seconds left, then the new style's index;
- ``GET /api/styles/{index}/file``: a style as a style file (``stylebank import-style`` adds it to a model).
Every error is JSON ``{"error": message}`` with a 4xx status (503 with Retry-After when busy).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import QuickStyleConfig
from ..errors import StyleBankError
from ..images import MAX_PIXELS, png_bytes
from ..backends.stylizer import Stylizer
from .forms import file_field, read_form, text_field
from .jobs import model_name, regions_job, run_regions, run_stylize, stylize_job
from .learning import StyleLearning, style_file_bytes
from .limits import BodyLimit, Gate, Rejected

STATIC = Path(__file__).with_name("static")
NO_STORE = {"Cache-Control": "no-store"}
log = logging.getLogger("stylebank.web")


@dataclass(frozen=True)
class ServerLimits:
    """What one request may cost: its body's bytes, its images' pixels, and how many may wait for the model."""

    max_upload_bytes: int = 20_000_000
    max_pixels: int = MAX_PIXELS
    queue: int = 4


def create_app(stylizer: Stylizer, limits: ServerLimits = ServerLimits(),
               learning: QuickStyleConfig = QuickStyleConfig()) -> Starlette:
    """The studio and its API around any backend that follows the Stylizer contract (PyTorch, ONNX Runtime);
    ``learning``: how a style a user adds is learned."""
    gate = Gate(limits.queue)
    model = model_name(stylizer)
    served = {"stylizer": stylizer}  # the PyTorch model with the added styles, once a style is added

    async def stylize(request: Request) -> Response:
        async with gate.admission(request):
            job = await stylize_job(await read_form(request), served["stylizer"].styles)
            result = await gate.run(run_stylize, served["stylizer"], job, model, limits.max_pixels)
        return Response(result, media_type="image/png", headers=NO_STORE)

    async def regions(request: Request) -> Response:
        async with gate.admission(request):
            data, count, max_size = await regions_job(await read_form(request))
            result = await gate.run(run_regions, data, count, max_size, limits.max_pixels)
        return Response(result, media_type="image/png", headers=NO_STORE)

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    learner = StyleLearning(stylizer, learning, on_learned=lambda extended: served.update(stylizer=extended))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await run_in_threadpool(learner.stop)

    routes = [Route("/", page), *style_routes(served, limits, learner),
              Route("/api/stylize", stylize, methods=["POST"]), Route("/api/regions", regions, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, exception_handlers=error_handlers(), lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=limits.max_upload_bytes)
    app.state.learner = learner
    return app


def style_routes(served: dict, limits: ServerLimits, learner: StyleLearning) -> list[Route]:
    """The routes of the styles: the list, each one's image and style file, and adding one (``served`` holds the
    stylizer, which becomes the PyTorch model with the added styles once ``learner`` adds one)."""
    model, original_count = model_name(served["stylizer"]), len(served["stylizer"].styles)

    def has_images() -> bool:  # a model file keeps them; an ONNX file does not
        return served["stylizer"].keeps_style_images

    @functools.cache
    def style_png(index: int) -> bytes:
        try:
            return png_bytes(served["stylizer"].style_picture(index))
        except StyleBankError as error:
            raise Rejected(404, str(error)) from None

    async def styles(request: Request) -> JSONResponse:
        return JSONResponse({
            "model": model,
            "styles": [{"index": index, "name": name, "image": f"/api/styles/{index}/image" if has_images() else None,
                        "added": index >= original_count} for index, name in enumerate(served["stylizer"].styles)],
            "limits": {"max_upload_bytes": limits.max_upload_bytes, "max_pixels": limits.max_pixels,
                       "queue": limits.queue}})

    def style_image(request: Request) -> Response:  # plain def: Starlette runs it in a worker thread
        index = request.path_params["index"]
        if not has_images() or not 0 <= index < len(served["stylizer"].styles):
            raise Rejected(404, f"no image for style {index}")
        return Response(style_png(index), media_type="image/png")

    def style_file(request: Request) -> Response:
        index, names = request.path_params["index"], served["stylizer"].styles
        if not 0 <= index < len(names):
            raise Rejected(404, f"no style {index}")
        return Response(style_file_bytes(served["stylizer"], index), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{names[index]}.safetensors"'})

    async def add_style(request: Request) -> JSONResponse:
        form = await read_form(request)
        image, name = await file_field(form, "image"), text_field(form, "name") or ""
        job = await run_in_threadpool(learner.start, image, name, served["stylizer"].styles, limits.max_pixels)
        return JSONResponse({"job": job, "status": f"/api/jobs/{job}"}, status_code=202)

    async def job_status(request: Request) -> JSONResponse:
        return JSONResponse(learner.status(request.path_params["job"]), headers=NO_STORE)

    return [Route("/api/styles", styles), Route("/api/styles", add_style, methods=["POST"]),
            Route("/api/styles/{index:int}/image", style_image), Route("/api/styles/{index:int}/file", style_file),
            Route("/api/jobs/{job}", job_status)]


def error_handlers() -> dict:
    """Every failure as JSON {"error": message}: ours with their status, a StyleBankError (a bad image, spec,
    size) as 400, Starlette's own (404, 405) with theirs, and anything unexpected as a 500 that shows no
    traceback (that goes to the server's log)."""
    async def rejected(request: Request, error: Rejected) -> JSONResponse:
        return error.response()

    async def bad_input(request: Request, error: StyleBankError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); see the server's log"},
                            status_code=500)

    return {Rejected: rejected, StyleBankError: bad_input, HTTPException: http_error, Exception: unexpected}
