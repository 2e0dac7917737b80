"""Searching: by text (GET /api/search), by click (GET /api/images/{id}/similar) and by\nexample image (POST /api/images/search-similar)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel

from api.deps import CallerDep, RecorderDep, RuntimeDep, asking, on_one_thread
from core.errors import InvalidRequest
from core.likes import liked_among
from core.models import ImageSource, file_url, thumbnail_url
from core.vectors import SearchFilter
from services.query_language import parse_query
from services.search import filter_of, search_by_example, search_text
from services.signals import click_entry, example_entry, search_entry
from services.similar import MAX_PAGES, similar_to

router = APIRouter(prefix="/api", tags=["search"])


class SnippetOut(BaseModel):
    field: str
    """Where the text is from: ``ocr`` (read in the image), ``caption`` or ``filename``."""
    text: str
    marks: list[tuple[int, int]]
    """``[start, end)`` offsets of the query's words in ``text``."""


class SearchResult(BaseModel):
    id: int
    score: float
    """Cosine similarity in the best dense channel that found it (text to image, or text to
    caption); 0 when only its words did."""
    matched: list[str]
    """The channels that found it: ``image`` (what it shows), ``text`` (its caption) and
    ``words`` (the words in it and around it: OCR text, caption, file name)."""
    strong: bool = False
    """A strong match: it holds every word of the query, or stands far above this query's
    other candidates."""
    snippets: list[SnippetOut] = []
    """Pieces of its words holding the query's words, marked."""
    caption: str | None
    source: str | None
    thumbnail_url: str
    file_url: str
    liked: bool
    """Whether you like it."""


class SearchResponse(BaseModel):
    query: str
    page: int
    limit: int
    total_found: int
    """Results in the whole ranking (at most 300)."""
    strong_count: int = 0
    """How many of them are strong matches; 0: nothing matched well, the closest come first."""
    results: list[SearchResult]


@router.get("/search", response_model=SearchResponse)
@on_one_thread
def search(
    runtime: RuntimeDep,
    caller: CallerDep,
    recorder: RecorderDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to look for, in words, with the "
                                                                       "query language's filters (README)")],
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 15,
    score_threshold: Annotated[float | None, Query(ge=-1, le=1, description="Least cosine similarity")] = None,
    source: ImageSource | None = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    uploader: Annotated[str | None, Query(max_length=255)] = None,
    after: Annotated[datetime | None, Query(description="Added at or after (ISO 8601)")] = None,
    before: Annotated[datetime | None, Query(description="Added before (ISO 8601)")] = None,
):
    """Images matching a text by what they show, their captions and the words in them,
    fused into one ranking. Pages of the same query never repeat or skip an image. A
    malformed filter of the query language is a 422 (``invalid_query``) naming it."""
    query = " ".join(q.split())
    parsed = parse_query(query)
    if not parsed.text:
        raise InvalidRequest("Say what to look for besides the filters: a few words, or a \"phrase\".")
    base = SearchFilter(
        source=source.value if source else None,
        channel=channel,
        uploader=uploader,
        after=after.timestamp() if after else None,
        before=before.timestamp() if before else None,
    )
    with asking(runtime, caller) as (session, user, viewer):
        where = filter_of(runtime, session, user, viewer, parsed, base)
        found = search_text(runtime, parsed, page, limit, score_threshold, where)
        results = _results(session, caller.id, found.results)
    filters = {k: v for k, v in {"source": where.source, "channel": channel, "uploader": uploader,
                                 "after": after and after.isoformat(), "before": before and before.isoformat(),
                                 "score_threshold": score_threshold}.items() if v is not None}
    recorder.record(search_entry(caller.id, query, found, filters, page), who=caller.id)
    return SearchResponse(
        query=query,
        page=found.page,
        limit=found.limit,
        total_found=found.total_found,
        strong_count=found.strong_count,
        results=results,
    )


class SimilarResponse(BaseModel):
    image_id: int
    page: int
    results: list[SearchResult]


@router.get("/images/{image_id}/similar", response_model=SimilarResponse, tags=["images"])
@on_one_thread
def similar(
    runtime: RuntimeDep,
    caller: CallerDep,
    recorder: RecorderDep,
    image_id: int,
    page: Annotated[int, Query(ge=1, le=MAX_PAGES)] = 1,
):
    """More like this image: 7 neighbours by what it shows and 7 by its caption a page
    (14 by what it shows when it has no caption), from its stored vectors."""
    with asking(runtime, caller) as (session, _, viewer):
        found = similar_to(runtime, image_id, page, SearchFilter(audience=viewer.tokens()))
        results = _results(session, caller.id, found.results)
    recorder.record(click_entry(caller.id, image_id, found, {}, page), who=caller.id)
    return SimilarResponse(image_id=image_id, page=page, results=results)


def _results(session, user_id: int, matches) -> list[SearchResult]:
    liked = liked_among(session, user_id, (m.id for m in matches))
    return [
        SearchResult(**{**vars(m), "snippets": [vars(s) for s in getattr(m, "snippets", [])]},
                     thumbnail_url=thumbnail_url(m.id), file_url=file_url(m.id), liked=m.id in liked)
        for m in matches
    ]


class ExampleResult(BaseModel):
    image_uri: str
    score: float
    metadata: dict


class ExampleResponse(BaseModel):
    query_image: str
    """What was uploaded (name, format, size, dimensions). findimage has no vision-language
    model to describe pictures in words; the search itself compares CLIP image vectors."""
    results: list[ExampleResult]
    total_found: int


@router.post("/images/search-similar", response_model=ExampleResponse, tags=["images"])
@on_one_thread
def search_similar(
    request: Request,
    runtime: RuntimeDep,
    caller: CallerDep,
    recorder: RecorderDep,
    image_file: Annotated[UploadFile, File(description="The example image")],
    limit: Annotated[int, Form(ge=1, le=100)] = 10,
    score_threshold: Annotated[float | None, Form(ge=-1, le=1, description="Least cosine similarity")] = None,
):
    """Images that look like an example. The upload is checked like any other (400, 413,
    415), searched, and dropped: nothing of it is stored. No match is an empty list."""
    data = image_file.file.read(runtime.settings.limits.max_upload_bytes + 1)
    with asking(runtime, caller) as (session, _, viewer):
        checked, hits = search_by_example(runtime, request.app.state.example_searches, data, limit, score_threshold,
                                          SearchFilter(audience=viewer.tokens()))
        liked = liked_among(session, caller.id, (hit.id for hit in hits))
    described = f"{image_file.filename or 'upload'} ({checked.mime}, {checked.width}x{checked.height}, {len(data):,} bytes)"
    recorder.record(example_entry(caller.id, described, len(hits)), who=caller.id)
    base = str(request.base_url).rstrip("/")
    results = [
        ExampleResult(
            image_uri=base + file_url(hit.id),
            score=round(float(hit.score), 6),
            metadata={
                "id": hit.id,
                "thumbnail_url": thumbnail_url(hit.id),
                "liked": hit.id in liked,
                **{key: hit.payload.get(key) for key in ("caption", "source", "uploader", "channel", "created_at")},
            },
        )
        for hit in hits
    ]
    return ExampleResponse(query_image=described, results=results, total_found=len(results))
