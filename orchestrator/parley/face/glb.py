"""GLB (binary glTF 2.0): reading the morph targets a model offers.

A 3D avatar is driven by morph targets named as Ready Player Me does (``viseme_sil`` …
``viseme_U``, ARKit ``jawOpen`` …). ``check_avatar`` refuses a model that lacks the visemes, naming
the missing targets, before a browser ever loads it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from parley.core.errors import ParleyError
from parley.speak.visemes import VISEMES

REQUIRED_TARGETS = [f"viseme_{v}" for v in VISEMES]
# The file's magic number and its chunks' types.
MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


class GLBError(ParleyError, ValueError):
    pass


def read_json(path: Path) -> dict:
    data = Path(path).read_bytes()
    if len(data) < 20 or struct.unpack_from("<I", data, 0)[0] != MAGIC:
        raise GLBError(f"{path}: not a GLB file (binary glTF 2.0)")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != JSON_CHUNK:
        raise GLBError(f"{path}: GLB without a JSON chunk")
    return json.loads(data[20 : 20 + length])


def morph_target_names(gltf: dict) -> set[str]:
    """Target names of every mesh (``mesh.extras.targetNames``, the convention three.js reads)."""
    names: set[str] = set()
    for mesh in gltf.get("meshes", []):
        names.update(mesh.get("extras", {}).get("targetNames", []))
        for prim in mesh.get("primitives", []):
            names.update(prim.get("extras", {}).get("targetNames", []))
    return names


# VRM models speak through the five vowel expressions instead (VRM 0.x presets / VRM 1.0 names);
# the page maps the 15 visemes onto them.
VRM0_VOWELS = ["a", "i", "u", "e", "o"]
VRM1_VOWELS = ["aa", "ih", "ou", "ee", "oh"]


def vrm_expressions(gltf: dict) -> set[str] | None:
    """The expression presets of a VRM model that bind morph targets, or None if it is not VRM."""
    ext = gltf.get("extensions", {})
    if "VRM" in ext:
        groups = ext["VRM"].get("blendShapeMaster", {}).get("blendShapeGroups", [])
        return {g.get("presetName") for g in groups if g.get("binds")}
    if "VRMC_vrm" in ext:
        presets = ext["VRMC_vrm"].get("expressions", {}).get("preset", {})
        return {name for name, e in presets.items() if e.get("morphTargetBinds")}
    return None


def check_avatar(path: Path) -> set[str]:
    """What the model can move (morph targets, or VRM expressions); ``GLBError`` naming what is
    missing if it cannot show visemes."""
    gltf = read_json(path)
    expressions = vrm_expressions(gltf)
    if expressions is not None:
        vowels = VRM1_VOWELS if "VRMC_vrm" in gltf.get("extensions", {}) else VRM0_VOWELS
        missing = [v for v in vowels if v not in expressions]
        if missing:
            raise GLBError(f"{path}: the VRM model has no mouth expressions {', '.join(missing)} "
                           f"(with morph target binds); the avatar needs all of {', '.join(vowels)}")
        return expressions
    names = morph_target_names(gltf)
    missing = [t for t in REQUIRED_TARGETS if t not in names]
    if missing:
        raise GLBError(
            f"{path}: the model has no morph targets {', '.join(missing)}; a 3D avatar needs the 15 Ready "
            "Player Me / Oculus visemes (viseme_sil … viseme_U) as morph targets, or VRM vowel expressions"
        )
    return names
