"""A 3D head from one photo: MediaPipe's face mesh with its depth, painted with the photo, closed into a head.

- The face is the mesh's 468 points, textured with the photo at its own resolution. Its edge is
  carried back round the skull, coloured from the photo's skin and hair, so the head can turn
  (about ±25°) without showing a hole.
- The eye openings are filled with the photo's eyes and blink: the upper lid closes onto the lower.
- The mouth opening leads into a cavity (darker towards the back), with upper teeth fixed to the
  skull, and lower teeth and a tongue that move with the jaw.
- Morph targets in the Ready Player Me / Oculus viseme names and the ARKit mouth, jaw and blink names
  are mixes of a few motions of the mesh's own lip, jaw and eyelid points: the jaw turns about a
  hinge behind the mouth, the corners widen, the lips round and push forward, the lower lip tucks.

Every material is unlit (KHR_materials_unlit): the photo already holds the light it was taken in.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from parley.config.avatar import MESH_POINTS
from parley.face.make.glb_writer import MeshData, write_glb
from parley.face.make.mesh import face_triangles, fan, linear, smooth, strip
from parley.face.make.motion import FACE_WIDTH_M, MOTIONS, FaceMotion
from parley.face.make.photo import INNER_LIPS, mean_colours

SHELL_RINGS = 8
TEXTURE_MAX = 1024
FACE_POINTS = 468  # the mesh proper; 468..477 are the irises


class HeadBuilder(FaceMotion):
    """The head of one face: ``mesh`` is ``parley.face.make.photo.face_mesh``'s (478, 3) pixel points of
    ``image``."""

    def __init__(self, image: np.ndarray, mesh: np.ndarray) -> None:
        super().__init__(mesh)
        self.image = image

    # -- the photo -----------------------------------------------------------------------------
    def texture(self) -> tuple[bytes, np.ndarray]:
        """The photo around the head as JPEG (at most ``TEXTURE_MAX`` pixels a side), and the
        pixel → UV offset and size."""
        h, w = self.image.shape[:2]
        x0, y0 = self.px[:FACE_POINTS].min(axis=0)
        x1, y1 = self.px[:FACE_POINTS].max(axis=0)
        size = int(max(x1 - x0, y1 - y0) * 1.15)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(np.clip(cx - size / 2, 0, max(0, w - size))), int(np.clip(cy - size / 2, 0, max(0, h - size)))
        crop = self.image[top: top + size, left: left + size]
        side = max(crop.shape[:2])
        square = np.zeros((side, side, 3), np.uint8)
        square[: crop.shape[0], : crop.shape[1]] = crop[:, :, :3]
        # A power of two a side (what mipmaps want), at the photo's own resolution or just above.
        pot = min(TEXTURE_MAX, 1 << int(np.ceil(np.log2(max(side, 2)))))
        square = cv2.resize(square, (pot, pot), interpolation=cv2.INTER_AREA if pot < side else cv2.INTER_CUBIC)
        _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(square, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        return jpeg.tobytes(), np.array([left, top, side], np.float64)

    def colour_at(self, px: np.ndarray, radius: int = 3) -> np.ndarray:
        return mean_colours(self.image, px, radius)

    # -- the parts -------------------------------------------------------------------------------
    def build(self) -> tuple[list[MeshData], bytes]:
        texture, self.crop = self.texture()
        left, top, side = self.crop
        face_p = list(self.p[:FACE_POINTS])
        face_px = list(self.px[:FACE_POINTS])
        triangles = [tuple(t) for t in face_triangles()]
        centres = {}
        for eye, loop in self.eyes.items():  # fill each eye opening with the photo's eye
            centres[eye] = len(face_p)
            face_p.append(self.p[loop].mean(axis=0) - np.array([0, 0, 0.002]))
            face_px.append(self.px[loop].mean(axis=0))
            triangles += fan(loop, centres[eye])
        face_p, face_px = np.array(face_p), np.array(face_px)
        # The mesh's edge lies on the face's outline, where the photo may already be background.
        face_px[self.oval] += (face_px[self.oval].mean(axis=0) - face_px[self.oval]) * 0.05
        uv = (face_px - [left, top]) / side
        face_motion = self.motions(face_p)
        for eye, centre in centres.items():  # the fill's middle goes down with the lid, so it closes whole
            _, lower_x, lower_y = self.lower_lid(eye)
            face_motion[f"blink{eye}"][centre, 1] = np.interp(face_p[centre, 0], lower_x, lower_y) - face_p[centre, 1]
        face = MeshData("Face", face_p, np.array(triangles), np.ones((len(face_p), 3)),
                        self.targets(face_motion), uv=uv)
        shell = self._shell(face_motion)
        mouth = self._mouth(face_motion)
        return [face, shell, *mouth], texture

    def _shell(self, face_motion) -> MeshData:
        """The oval's edge carried back round the skull to a closed back of the head."""
        ring0 = self.p[self.oval]
        depth = 0.62 * FACE_WIDTH_M
        centre = np.array([0.0, ring0[:, 1].mean(), ring0[:, 2].mean() - depth])
        rel = ring0 - centre
        face_h = ring0[:, 1].max() - ring0[:, 1].min()
        # The edge's own colour a little inside the face (outside it may be background), then the
        # cheeks' skin below the temples and the hair above, which the photo shows over the forehead.
        edge = self.colour_at(self.px[self.oval] + (self.px[self.oval].mean(axis=0) - self.px[self.oval]) * 0.1)
        skin = np.median(self.colour_at(self.px[[50, 280, 205, 425]]), axis=0)
        top = self.px[MESH_POINTS["face_top"]]
        chin_px = self.px[MESH_POINTS["chin"]]
        hair = np.median(self.colour_at(top + np.array([[dx, -0.08 * (chin_px[1] - top[1])]
                                                        for dx in np.linspace(-30, 30, 7)])), axis=0)
        positions, colours, deltas = [], [], {k: [] for k in MOTIONS}
        top_half = rel[:, 1] > 0
        for k in range(SHELL_RINGS + 1):
            t = k / SHELL_RINGS
            phi = np.pi * t  # 0 at the face's edge, pi at the back of the head
            side, back = np.sin(phi), ((1 - np.cos(phi)) / 2) ** 3
            # Widest behind the face (the ears), a crown above the forehead, rounding in to the back.
            grow_x = 1 + 0.08 * side - 0.55 * back
            grow_y = np.where(top_half, 1 + 0.5 * side - 0.5 * back, 1 + 0.05 * side - 0.55 * back)
            positions.append(centre + np.stack([rel[:, 0] * grow_x, rel[:, 1] * grow_y, rel[:, 2] * np.cos(phi)], 1))
            upper = (rel[:, 1] > -0.15 * face_h)[:, None]
            target = np.where(upper, hair, skin * 0.85)
            colours.append((edge + (target - edge) * smooth(t / 0.3)) * (1 - 0.15 * t))
            for name in MOTIONS:
                deltas[name].append(face_motion[name][self.oval] * max(0.0, 1 - 3 * t))
        n = len(self.oval)
        positions.append(positions[-1].mean(axis=0, keepdims=True) - [0, 0, 0.1 * depth])
        colours.append(hair[None, :] * 0.85)
        for name in MOTIONS:
            deltas[name].append(np.zeros((1, 3)))
        triangles = []
        for k in range(SHELL_RINGS):
            triangles += strip(list(range(k * n, (k + 1) * n)), list(range((k + 1) * n, (k + 2) * n)), closed=True)
        triangles += fan(list(range(SHELL_RINGS * n, (SHELL_RINGS + 1) * n)), (SHELL_RINGS + 1) * n)
        motion = {name: np.concatenate(d) for name, d in deltas.items()}
        return MeshData("Head", np.concatenate(positions), np.array(triangles), linear(np.concatenate(colours)),
                        self.targets(motion))

    def _mouth(self, face_motion) -> list[MeshData]:
        """The cavity behind the lips (darker towards the back), the teeth and the tongue."""
        m, mw = self.mouth, self.mouth_w
        loop = self.mouth_loop
        ring0 = self.p[loop]
        rings = [ring0, m + (ring0 - m) * [0.85, 0.8, 1] - [0, 0, 0.25 * mw],
                 m + (ring0 - m) * [0.6, 0.55, 1] - [0, 0, 0.45 * mw]]
        follow = (1.0, 0.9, 0.75)
        shades = ([0.55, 0.24, 0.24], [0.24, 0.07, 0.07], [0.07, 0.02, 0.02])
        n = len(loop)
        positions = [*rings, (m - [0, 0.05 * mw, 0.5 * mw])[None, :]]
        colours = [np.tile(s, (n, 1)) for s in shades] + [np.array([shades[-1]])]
        motion = {k: [face_motion[k][loop] * f for f in follow] for k in MOTIONS}
        for k in MOTIONS:
            motion[k].append(motion[k][-1].mean(axis=0, keepdims=True))
        triangles = strip(list(range(n)), list(range(n, 2 * n)), True) + \
            strip(list(range(n, 2 * n)), list(range(2 * n, 3 * n)), True) + fan(list(range(2 * n, 3 * n)), 3 * n)
        targets = self.targets({k: np.concatenate(v) for k, v in motion.items()})
        cavity = MeshData("MouthCavity", np.concatenate(positions), np.array(triangles),
                          linear(np.concatenate(colours)), targets)

        jaw_at_lip = face_motion["jaw"][14]

        def band(lip: list[int], top: float, bottom: float, gum_row: int, moves_with_jaw: bool, name: str):
            """A row of teeth just behind ``lip``, from ``top`` to ``bottom`` (in mouth widths)."""
            base = m + (self.p[lip] - m) * [0.86, 1, 1] - [0, 0, 0.06 * mw]
            rows = [base + [0, top * mw, 0], base + [0, bottom * mw, -0.015 * mw]]
            k = len(lip)
            rigid = {key: np.zeros((2 * k, 3)) for key in MOTIONS}
            if moves_with_jaw:
                rigid["jaw"] = np.tile(jaw_at_lip, (2 * k, 1))
            shade = [np.tile([0.93, 0.91, 0.85], (k, 1)), np.tile([0.93, 0.91, 0.85], (k, 1))]
            shade[gum_row] = shade[gum_row] * 0.8
            return MeshData(name, np.concatenate(rows), np.array(strip(list(range(k)), list(range(k, 2 * k)), False)),
                            linear(np.concatenate(shade)), self.targets(rigid))

        if self.open_in_photo():
            teeth = self._photo_teeth(face_motion)
        else:
            teeth = [band(INNER_LIPS["upper"], 0.03, -0.11, 0, False, "TeethUpper"),
                     band(INNER_LIPS["lower"], 0.08, -0.03, 1, True, "TeethLower")]
        return [cavity, *teeth, self._tongue(jaw_at_lip)]

    def open_in_photo(self) -> bool:
        """Whether the photo's mouth is open (on teeth, most often): then the head shows what it shows."""
        width = np.linalg.norm(self.px[291] - self.px[61])
        return bool(self.px[14][1] - self.px[13][1] > 0.1 * width)

    def uv_of(self, q: np.ndarray) -> np.ndarray:
        """Where points of the head fall on the texture, seen straight on."""
        left, top, side = self.crop
        px = np.stack([q[:, 0] / self.scale + self.centre_px[0], -q[:, 1] / self.scale + self.centre_px[1]], 1)
        return (px - [left, top]) / side

    def _photo_teeth(self, face_motion) -> list[MeshData]:
        """The photo's own teeth: its mouth opening cut along the middle, the upper half fixed to the
        skull, the lower half moving with the lower lip; each tucked a little under its lip."""
        mw = self.mouth_w
        upper, lower = self.p[INNER_LIPS["upper"]], self.p[INNER_LIPS["lower"]]
        middle = (upper + lower) / 2
        back = np.array([0, 0, 0.04 * mw])
        k = len(upper)
        out = []
        for name, rows, uv_rows, follow in (
            ("TeethUpper", [upper + [0, 0.03 * mw, 0], upper, middle], [upper, upper, middle], None),
            ("TeethLower", [middle, lower, lower - [0, 0.03 * mw, 0]], [middle, lower, lower], INNER_LIPS["lower"]),
        ):
            positions = np.concatenate(rows) - back
            motion = {key: np.zeros_like(positions) for key in MOTIONS}
            if follow is not None:
                motion["jaw"] = np.tile(face_motion["jaw"][follow], (3, 1))
            triangles = strip(list(range(k)), list(range(k, 2 * k)), False) + \
                strip(list(range(k, 2 * k)), list(range(2 * k, 3 * k)), False)
            out.append(MeshData(name, positions, np.array(triangles), np.ones((3 * k, 3)), self.targets(motion),
                                uv=self.uv_of(np.concatenate(uv_rows))))
        return out

    def _tongue(self, jaw_at_lip: np.ndarray) -> MeshData:
        """A low dome on the floor of the mouth, moving with the jaw."""
        m, mw = self.mouth, self.mouth_w
        cols, rows = 9, 7
        u, v = np.meshgrid(np.linspace(-1, 1, cols), np.linspace(-1, 1, rows), indexing="ij")
        u, v = u * np.sqrt(1 - v**2 / 2), v * np.sqrt(1 - u**2 / 2)  # the square onto a disc
        u, v = u.ravel(), v.ravel()
        positions = m + np.stack([0.3 * mw * u, -0.14 * mw + 0.05 * mw * (1 - u**2 - v**2).clip(0),
                                  -0.27 * mw + 0.15 * mw * v], axis=1)
        triangles = []
        for i in range(cols - 1):
            triangles += strip(list(range(i * rows, (i + 1) * rows)), list(range((i + 1) * rows, (i + 2) * rows)),
                                closed=False)
        rigid = {key: np.zeros_like(positions) for key in MOTIONS}
        rigid["jaw"] = np.tile(jaw_at_lip * 0.9, (len(positions), 1))
        colours = np.tile([0.74, 0.36, 0.38], (len(positions), 1)) * (0.75 + 0.25 * (1 - v**2))[:, None]
        return MeshData("Tongue", positions, np.array(triangles), linear(colours), self.targets(rigid))


def build_head(image: np.ndarray, mesh: np.ndarray, out: Path) -> None:
    """Write the GLB head of the face ``mesh`` (``face_mesh``'s points) of ``image`` (RGB) to ``out``."""
    meshes, texture = HeadBuilder(image, mesh).build()
    write_glb(out, meshes, texture=texture, unlit=True)
