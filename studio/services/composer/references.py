"""References: gallery images and uploaded files, merged in the order the composer arranged them."""

from __future__ import annotations

from collections.abc import Sequence

from gallery.models import Image
from gallery.services import load_image_bytes
from studio.models import User
from studio.services.errors import ValidationFailed
from studio.services.jobs import Upload


def visible_images(*, user: User, ids: Sequence[str]) -> list[Image]:
    """The gallery images among `ids` that `user` may see, in the order asked, each once."""
    wanted: list[int] = []
    for raw in ids:
        try:
            pk = int(str(raw).strip())
        except (TypeError, ValueError):
            continue
        # No row has an id outside a bigint, and the database refuses to compare with one.
        if 0 < pk < 2**63 and pk not in wanted:
            wanted.append(pk)
    if not wanted:
        return []
    found = {image.pk: image for image in Image.objects.visible_to(user).filter(pk__in=wanted)}
    return [found[pk] for pk in wanted if pk in found]


def image_upload(image: Image) -> Upload:
    if image.mime_type == "image/svg+xml":
        raise ValidationFailed({"references": "An SVG image cannot be a reference: choose a PNG, JPEG or WebP image."})
    return Upload(data=load_image_bytes(image), name=f"gallery-{image.pk}.{image.extension}")


def collect_references(
    *, user: User, image_ids: Sequence[str], uploads: Sequence[Upload], order: str = ""
) -> list[Upload]:
    """Merge gallery references and uploaded files in the order the composer arranged them.

    `order` is a comma list of tokens: "file" takes the next uploaded file, "image:<id>"
    a gallery image. Anything the order leaves out follows: gallery images, then files.
    """
    ids = [str(i).strip() for i in image_ids if str(i).strip()]
    images = visible_images(user=user, ids=ids)
    if len(images) != len(dict.fromkeys(ids)):
        raise ValidationFailed({"references": "A gallery image you attached is not available to you."})
    by_id = {str(image.pk): image for image in images}
    files = list(uploads)
    result: list[Upload] = []
    used: set[str] = set()
    next_file = 0
    for token in (t.strip() for t in order.split(",")):
        if token == "file" and next_file < len(files):  # noqa: S105 - an order token, not a secret
            result.append(files[next_file])
            next_file += 1
        elif token.startswith("image:") and token[6:] in by_id and token[6:] not in used:
            used.add(token[6:])
            result.append(image_upload(by_id[token[6:]]))
    result += [image_upload(image) for key, image in by_id.items() if key not in used]
    result += files[next_file:]
    return result
