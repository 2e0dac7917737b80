"""Uploading images and reading them back: /api/images."""

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import Caller, CallerDep, CurrentUser, QueueDep, RuntimeDep, SessionDep, ViewerDep, get_caller
from api.errors import error_body, status_of
from core.access import Viewer, can_delete, viewer_for, visible_image, visible_images
from core.errors import Forbidden, ImageTooLarge, InvalidImage
from core.images import delete_image, thumbnail_path
from core.likes import liked_among
from core.links import valid_signature
from core.models import Image, ImagePublic, ImageSource
from core.ratelimit import take
from services.ingest import BATCH, submit_images

router = APIRouter(prefix="/api/images", tags=["images"])


class RejectedFile(BaseModel):
    filename: str | None
    error: dict


class UploadResult(BaseModel):
    images: list[ImagePublic]
    """Accepted images, each ``queued`` (or its stored state when it is a duplicate)."""
    rejected: list[RejectedFile]


@router.post("", status_code=202, response_model=UploadResult)
def upload_images(
    runtime: RuntimeDep,
    caller: CallerDep,
    queue: QueueDep,
    files: Annotated[list[UploadFile], File(description="One or more image files")],
    caption: Annotated[str | None, Form(max_length=4000, description="What the images show")] = None,
):
    """Queue images for indexing. Files are checked by content, not by name.

    Good files are accepted even when others in the same request are rejected; when
    none is accepted the answer is the first file's error (400, 413 or 415)."""
    limits = runtime.settings.limits
    if len(files) > limits.max_files_per_request:
        return JSONResponse(
            error_body("too_many_files", f"At most {limits.max_files_per_request} files per request."),
            status_code=413,
        )
    take(runtime.redis, "uploads", caller.id, len(files), limits.uploads_per_minute)
    results: list[tuple[Image, bool] | InvalidImage] = []
    for start in range(0, len(files), BATCH):  # stored and queued a batch at a time
        read = [(_read(upload, limits.max_upload_bytes), _name(upload.filename)) for upload in files[start : start + BATCH]]
        readable = [(data, name) for data, name in read if isinstance(data, bytes)]
        submitted = iter(submit_images(runtime, queue, readable, source=ImageSource.web, uploader=caller.name,
                                       captions=[caption] * len(readable)))
        results += [next(submitted) if isinstance(data, bytes) else data for data, _ in read]
    accepted, rejected, first_status = [], [], None
    for upload, result in zip(files, results):
        if isinstance(result, InvalidImage):
            first_status = first_status or status_of(result)
            rejected.append(RejectedFile(filename=upload.filename, error={"code": result.code, "message": result.message}))
        else:
            image, created = result
            accepted.append(ImagePublic.of(image, duplicate=not created))
    if not accepted:
        first = rejected[0].error
        return JSONResponse(
            error_body(first["code"], first["message"], files=[r.model_dump() for r in rejected]),
            status_code=first_status,
        )
    return UploadResult(images=accepted, rejected=rejected)


class ImageDetail(ImagePublic):
    liked: bool
    """Whether you like it."""


@router.get("", response_model=list[ImagePublic])
def read_images(
    session: SessionDep,
    viewer: ViewerDep,
    ids: Annotated[list[int], Query(min_length=1, max_length=100, description="Image ids (repeat the parameter)")],
):
    """Several images at once, in the order asked, leaving out those you may not see (or
    that are gone): what the web page polls while its uploads are indexed."""
    images = visible_images(session, viewer, ids)
    return [ImagePublic.of(images[i]) for i in dict.fromkeys(ids) if i in images]


@router.get("/{image_id}", response_model=ImageDetail)
def read_image(image_id: int, session: SessionDep, caller: CallerDep, viewer: ViewerDep):
    image = visible_image(session, viewer, image_id)
    return ImageDetail(**ImagePublic.of(image).model_dump(), liked=bool(liked_among(session, caller.id, [image_id])))


@router.get("/{image_id}/file")
def read_image_file(image_id: int, session: SessionDep, viewer: ViewerDep, runtime: RuntimeDep, request: Request):
    image = visible_image(session, viewer, image_id)
    return _immutable_file(request, runtime.files.original_path(image.sha256), image.mime, image.sha256)


@router.get("/{image_id}/thumbnail")
async def read_image_thumbnail(
    image_id: int,
    runtime: RuntimeDep,
    request: Request,
    expires: int | None = None,
    signature: Annotated[str | None, Query(max_length=64)] = None,
):
    """The thumbnail, for a caller who may see the image, or for anyone holding a signed
    link (``expires`` + ``signature``: what findimage hands Slack)."""
    caller = None  # a signed link: anyone holding it
    if expires is not None or signature is not None:
        if not valid_signature(request.app.state.secret, image_id, expires or 0, signature or ""):
            raise Forbidden("This image link is not valid, or has expired.")
    else:
        caller = await get_caller(request, runtime)
    path, image = await run_in_threadpool(_thumbnail, runtime, caller, image_id)
    return _immutable_file(request, path, "image/jpeg", f"t-{image.sha256}")


def _thumbnail(runtime, caller: Caller | None, image_id: int):
    with runtime.session() as session:
        viewer = Viewer(everything=True) if caller is None else viewer_for(runtime.settings, runtime.redis, session, caller.id)
        image = visible_image(session, viewer, image_id)
        return thumbnail_path(runtime.files, image, runtime.settings.limits), image


@router.delete("/{image_id}", status_code=204)
def remove_image(image_id: int, session: SessionDep, runtime: RuntimeDep, user: CurrentUser, viewer: ViewerDep):
    """Delete an image, its vectors and its files: for whoever added it, and admins."""
    image = visible_image(session, viewer, image_id)
    if not can_delete(user, image):
        raise Forbidden("Only whoever added this image, or an admin, may delete it.")
    delete_image(session, runtime.files, [s.vectors for s in runtime.spaces()], image_id)
    return Response(status_code=204)


def _immutable_file(request: Request, path, media_type: str, tag: str) -> Response:
    # An image id always names the same bytes, so caches may keep them for good.
    headers = {
        "ETag": f'"{tag}"',
        "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


def _read(upload: UploadFile, limit: int) -> bytes | ImageTooLarge:
    data = upload.file.read(limit + 1)
    return data if len(data) <= limit else ImageTooLarge(f"The file is larger than the limit of {limit:,} bytes.")


def _name(filename: str | None) -> str | None:
    """The last part of a name a browser sent (some send a path), at most 255 characters."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or None if filename else None
