"""The colours of a whole head from one photo: the photo on the face, its skin tone on the rest of the
head, ears and neck, its hair colour on the scalp and its clothing colour on the shoulders.

The photo holds the light it was taken in and the head is drawn unlit, so the skin, hair and clothes
painted where the photo does not reach get a soft light of their own, from the front and above.
"""

from __future__ import annotations

import cv2
import numpy as np

from parley.config.avatar import MESH_POINTS
from parley.face.make.bake import bleed, interpolate, rasterise
from parley.face.make.mesh import connections, contour, smooth
from parley.face.make.photo import mean_colours

LIGHT = np.array([0.25, 0.45, 1.0]) / np.linalg.norm([0.25, 0.45, 1.0])


class PhotoColours:
    """Colours picked from the photo (RGB pixels) around its face mesh's points (``mesh``, pixels)."""

    def __init__(self, image: np.ndarray, mesh: np.ndarray) -> None:
        self.image, self.px = image, mesh[:, :2]
        self.oval = self.px[contour(connections().FACEMESH_FACE_OVAL)].astype(np.float32)
        top, chin = self.px[MESH_POINTS["face_top"]], self.px[MESH_POINTS["chin"]]
        self.face_h = float(chin[1] - top[1])
        self.skin = np.median(self.at(self.px[[50, 280, 205, 425]]), axis=0)
        # Inside the lips: the lips' own colour, darker (a pucker turns some of it outwards).
        self.mouth = np.median(self.at(self.px[[0, 17, 37, 267, 84, 314]], 1), axis=0) * 0.7
        self.hair = np.median(self.at(top + [[dx, -0.1 * self.face_h] for dx in np.linspace(-30, 30, 7)]), axis=0)
        # Below the chin by most of a face's height: the chest, clothed in a portrait (or the photo's edge).
        chest = chin + [0, 0.9 * self.face_h]
        self.clothes = np.median(self.at(chest + [[dx, 0] for dx in np.linspace(-0.4, 0.4, 9) * self.face_h]),
                                 axis=0)

    def at(self, px: np.ndarray, radius: int = 3) -> np.ndarray:
        return mean_colours(self.image, px, radius)

    def inside_face(self, px: np.ndarray) -> np.ndarray:
        """How far inside the face's outline each pixel is, 0 at the outline to 1 well inside."""
        feather = 0.08 * self.face_h
        dist = np.array([cv2.pointPolygonTest(self.oval, (float(x), float(y)), True) for x, y in px])
        return smooth((dist - 0.01 * self.face_h) / feather)


def shade(normals: np.ndarray) -> np.ndarray:
    return 0.72 + 0.28 * np.clip(normals @ LIGHT, 0, 1)


def paint_texture(colours: PhotoColours, uv_triangles: np.ndarray, corners: np.ndarray, size: int) -> bytes:
    """The texture (JPEG) of a mesh whose (T,3) triangle corners carry, per vertex (``corners``,
    (T,3,7)): the photo pixel x, y where it is seen; how much the photo shows there; how much hair,
    clothes and mouth inside; its own light."""
    owner, weights = rasterise(uv_triangles, size)
    texel = interpolate(owner, weights, corners)
    px, photo_w, hair_w, cloth_w, mouth_w, light = (texel[..., :2], *np.moveaxis(texel[..., 2:], -1, 0))
    photo = cv2.remap(colours.image[:, :, :3], px[..., 0].astype(np.float32), px[..., 1].astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
    fill = colours.skin + (colours.hair - colours.skin) * hair_w[..., None]
    fill = fill + (colours.clothes - fill) * cloth_w[..., None]
    fill = fill * light[..., None]
    rgb = fill + (photo - fill) * photo_w[..., None]
    rgb = rgb + (colours.mouth - rgb) * mouth_w[..., None]
    rgb = bleed(np.clip(rgb * 255, 0, 255), owner >= 0)
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90])
    return jpeg.tobytes()
