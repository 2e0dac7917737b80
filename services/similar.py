"""More like this: the neighbours of an image people clicked, from its stored vectors.

No model runs: the clicked image's own ``image`` and ``text`` vectors are the queries.
Each page shows ``PER_INDEX`` images from the image index and ``PER_INDEX`` from the
caption index (when the clicked image has a caption; otherwise the image index fills the
page), interleaved, never the clicked image, never one already shown on an earlier page.
Both lists are searched to a fixed depth, so every page comes from the same two lists.
"""

from dataclasses import dataclass

import numpy as np

from core.errors import NotFound
from core.metrics import timed
from core.runtime import Runtime
from core.vectors import AUDIENCE, IMAGE, TEXT, Hit, SearchFilter
from services.search import Match, Ranked, with_payloads

PER_INDEX = 7
MAX_PAGES = 20


@dataclass(frozen=True)
class SimilarPage:
    results: list[Match]
    clicked_vector: np.ndarray
    """The clicked image's own ``image`` vector (what the click says the user likes)."""
    space_id: int
    """The vector space searched (``clicked_vector`` is in it)."""


def similar_to(runtime: Runtime, image_id: int, page: int = 1, where: SearchFilter | None = None) -> SimilarPage:
    """Neighbours of the image that pass ``where`` (who may see what); an image the
    viewer may not see is as unknown as a missing one."""
    space = runtime.space  # one space throughout, even if a reindex switches meanwhile
    points = space.vectors.retrieve([image_id], vectors=(IMAGE, TEXT), fields=(AUDIENCE,))
    audience = where.audience if where else None
    if not points or (audience is not None and not audience.intersection(points[0].payload.get(AUDIENCE, []))):
        raise NotFound(f"Image {image_id} is not in the search index (unknown, or not indexed yet).")
    (point,) = points
    depth = MAX_PAGES * 2 * PER_INDEX + 1
    with timed("search"):
        lists = {
            index: space.vectors.search(index, point.vectors[index], depth, where=where, with_payload=False)
            for index in (IMAGE, TEXT)
            if index in point.vectors
        }
    if page > MAX_PAGES:
        return SimilarPage([], point.vectors[IMAGE], space.id)
    shown = {image_id}
    queues = {index: [h for h in hits if h.id != image_id] for index, hits in lists.items()}
    for _ in range(page):
        results = _one_page(queues, shown)
    return SimilarPage(with_payloads(space, results, words=False), point.vectors[IMAGE], space.id)  # no snippets


def _one_page(queues: dict[str, list[Hit]], shown: set[int]) -> list[Ranked]:
    """The next unseen hits: PER_INDEX from the caption index, the image index filling
    the rest of the page, interleaved."""
    text = _take(queues.get(TEXT, []), PER_INDEX, shown)
    image = _take(queues[IMAGE], 2 * PER_INDEX - len(text), shown)
    order = []
    for i in range(max(len(image), len(text))):
        order += [(image[i], IMAGE)] if i < len(image) else []
        order += [(text[i], TEXT)] if i < len(text) else []
    return [Ranked(hit.id, round(float(hit.score), 6), [index]) for hit, index in order]


def _take(queue: list[Hit], count: int, shown: set[int]) -> list[Hit]:
    """Pop hits off ``queue`` until ``count`` not yet shown are taken (and mark them shown)."""
    taken = []
    while queue and len(taken) < count:
        hit = queue.pop(0)
        if hit.id not in shown:
            shown.add(hit.id)
            taken.append(hit)
    return taken
