"""A photo made into a portrait's landmarks: the MediaPipe face mesh of its one face (MediaPipe
ships its model in the 0.10.14 wheel), checked to be a face that can be animated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parley.config.avatar import MESH_POINTS, PortraitLandmarks
from parley.face.avatars import AvatarError, face_extent

# The inner lip contours' MediaPipe face-mesh indices, corner to corner.
INNER_LIPS = {
    "upper": [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308],
    "lower": [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308],
}
# What makes a usable portrait (the messages say so when a photo is not one).
MIN_FACE_PX = 96
MAX_MEGAPIXELS = 50
# The nose between the cheeks: 0.5 looking at the camera; past these the face is turned too far to warp.
FRONTAL = (0.3, 0.7)
PHOTO_THAT_WORKS = ("a frontal portrait of one person looking at the camera, the whole face visible and at "
                    "least 96 pixels wide (PNG or JPEG)")


def face_mesh(image: np.ndarray) -> np.ndarray:
    """The MediaPipe face mesh of the one face in an RGB image: (478, 3) points in pixels, x right,
    y down, z the depth (negative towards the camera, in the same pixels as x); ``AvatarError``
    (saying what photo works) when there is no face or more than one."""
    import warnings

    with warnings.catch_warnings():  # protobuf deprecation noise from MediaPipe's generated code
        warnings.simplefilter("ignore")
        import mediapipe as mp

    h, w = image.shape[:2]
    with warnings.catch_warnings(), mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=2, refine_landmarks=True
    ) as mesh:
        warnings.simplefilter("ignore")
        result = mesh.process(np.ascontiguousarray(image[:, :, :3]))
    faces = result.multi_face_landmarks or []
    if not faces:
        raise AvatarError(f"no face found; use {PHOTO_THAT_WORKS}")
    if len(faces) > 1:
        raise AvatarError(f"more than one face found; crop the photo to one person: {PHOTO_THAT_WORKS}")
    return np.array([(p.x * w, p.y * h, p.z * w) for p in faces[0].landmark])


def landmarks_of(mesh: np.ndarray) -> PortraitLandmarks:
    """The points the 2D renderer warps around, from a face mesh (``face_mesh``)."""

    def px(i: int) -> tuple[float, float]:
        return (round(float(mesh[i, 0]), 2), round(float(mesh[i, 1]), 2))

    return PortraitLandmarks(
        points={name: px(i) for name, i in MESH_POINTS.items()},
        inner_lip_upper=[px(i) for i in INNER_LIPS["upper"]],
        inner_lip_lower=[px(i) for i in INNER_LIPS["lower"]],
    )


def check_face(landmarks: PortraitLandmarks) -> None:
    """``AvatarError`` if the face is too small to animate or turned too far to one side."""
    left, top, right, chin = face_extent(landmarks)
    size = max(right - left, chin - top)
    if size < MIN_FACE_PX:
        raise AvatarError(f"the face is {size:.0f} pixels across, too small to animate (at least "
                          f"{MIN_FACE_PX}); use a closer or larger photo: {PHOTO_THAT_WORKS}")
    nose = (landmarks.p("nose_tip")[0] - left) / (right - left)
    if not FRONTAL[0] <= nose <= FRONTAL[1]:
        raise AvatarError(f"the face is turned to one side (a profile); use {PHOTO_THAT_WORKS}")


def read_photo(image_file: Path) -> np.ndarray:
    """The photo as RGB pixels, or ``AvatarError`` saying why it cannot be one."""
    import cv2

    if not image_file.is_file():
        raise AvatarError(f"{image_file}: no such file")
    bgr = cv2.imread(str(image_file), cv2.IMREAD_COLOR)
    if bgr is None:
        raise AvatarError(f"{image_file}: not an image that can be read (or larger than OpenCV decodes); "
                          f"use {PHOTO_THAT_WORKS}")
    h, w = bgr.shape[:2]
    if w * h > MAX_MEGAPIXELS * 1_000_000:
        raise AvatarError(f"{image_file}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the "
                          f"{MAX_MEGAPIXELS} a portrait needs; scale it down (the face needs a few hundred pixels)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_crop(landmarks: PortraitLandmarks, width: int, height: int) -> tuple[int, int, int]:
    """A square around the face with room for head motion, kept inside the image."""
    left, top, right, chin = face_extent(landmarks)
    cx, cy = (left + right) / 2, (top + chin) / 2
    size = int(min(max(right - left, chin - top) * 1.7, width, height))
    x = int(np.clip(cx - size / 2, 0, width - size))
    y = int(np.clip(cy - size / 2, 0, height - size))
    return x, y, size


def mean_colours(image: np.ndarray, px: np.ndarray, radius: int = 3) -> np.ndarray:
    """The photo's mean sRGB colour (0..1) around each pixel position (clamped into the photo)."""
    h, w = image.shape[:2]
    out = []
    for x, y in np.atleast_2d(px):
        x, y = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
        patch = image[max(0, y - radius): y + radius + 1, max(0, x - radius): x + radius + 1, :3]
        out.append(patch.reshape(-1, 3).mean(axis=0) / 255.0)
    return np.array(out)
