"""Writing simple meshes as a GLB (binary glTF 2.0): one scene, vertex colours, an optional texture
and morph targets named as three.js reads them (``extras.targetNames``)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parley.face.glb import BIN_CHUNK, JSON_CHUNK, MAGIC


@dataclass
class MeshData:
    """One primitive: positions (N,3), triangle indices (M,3), linear RGB colours (N,3), morph deltas;
    with ``uv`` (N,2), it is painted with the GLB's texture (multiplied by the colours)."""

    name: str
    positions: np.ndarray
    triangles: np.ndarray
    colours: np.ndarray
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    uv: np.ndarray | None = None


def _normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (positions[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for i in range(3):
        np.add.at(normals, triangles[:, i], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals[length[:, 0] < 1e-12] = (0.0, 0.0, 1.0)  # a point only on degenerate triangles: any unit normal
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def write_glb(path: Path, meshes: list[MeshData], extensions: dict | None = None, texture: bytes | None = None,
              unlit: bool = False) -> None:
    """Write ``meshes`` as one scene. ``texture`` (JPEG or PNG bytes) paints the meshes that have UVs;
    ``unlit`` shows colours and texture as they are (KHR_materials_unlit): right for a photo, whose
    light is already in it."""
    blob = bytearray()
    views, accessors = [], []

    def add(array: np.ndarray, component: int, kind: str, target: int | None, minmax: bool = False) -> int:
        while len(blob) % 4:
            blob.append(0)
        raw = np.ascontiguousarray(array).tobytes()
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(raw)}
        if target:
            view["target"] = target
        views.append(view)
        blob.extend(raw)
        acc = {"bufferView": len(views) - 1, "componentType": component, "count": int(array.shape[0]), "type": kind}
        if minmax:
            acc["min"] = [float(v) for v in array.min(axis=0)]
            acc["max"] = [float(v) for v in array.max(axis=0)]
        accessors.append(acc)
        return len(accessors) - 1

    gltf_meshes, nodes = [], []
    for mesh in meshes:
        pos = mesh.positions.astype(np.float32)
        prim = {
            "attributes": {
                "POSITION": add(pos, 5126, "VEC3", 34962, minmax=True),
                "NORMAL": add(_normals(pos, mesh.triangles).astype(np.float32), 5126, "VEC3", 34962),
                "COLOR_0": add(mesh.colours.astype(np.float32), 5126, "VEC3", 34962),
            },
            "indices": add(mesh.triangles.astype(np.uint32).reshape(-1, 1), 5125, "SCALAR", 34963),
            "material": 0,
        }
        if mesh.uv is not None and texture is not None:
            prim["attributes"]["TEXCOORD_0"] = add(mesh.uv.astype(np.float32), 5126, "VEC2", 34962)
            prim["material"] = 1
        entry = {"name": mesh.name, "primitives": [prim]}
        if mesh.targets:
            # Accessor min/max are required for morph POSITION deltas as for positions.
            prim["targets"] = [{"POSITION": add(d.astype(np.float32), 5126, "VEC3", 34962, minmax=True)}
                               for d in mesh.targets.values()]
            entry["weights"] = [0.0] * len(mesh.targets)
            entry["extras"] = {"targetNames": list(mesh.targets)}
        gltf_meshes.append(entry)
        nodes.append({"name": mesh.name, "mesh": len(gltf_meshes) - 1})
    materials = [{"name": "skin", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1],
                                                           "metallicFactor": 0.0, "roughnessFactor": 0.7}}]
    if texture is not None:
        materials[0]["doubleSided"] = True
    images = []
    if texture is not None:
        while len(blob) % 4:
            blob.append(0)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(texture)})
        blob.extend(texture)
        mime = "image/png" if texture[:4] == b"\x89PNG" else "image/jpeg"
        images.append({"bufferView": len(views) - 1, "mimeType": mime})
        materials.append({"name": "photo", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.8},
            "doubleSided": True})
    extensions = dict(extensions or {})
    if unlit:
        for material in materials:
            material["extensions"] = {"KHR_materials_unlit": {}}
    gltf = {
        "asset": {"version": "2.0", "generator": "parley"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(nodes)))}],
        "nodes": nodes,
        "meshes": gltf_meshes,
        "materials": materials,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    if images:
        gltf["images"] = images
        gltf["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
    if extensions:
        gltf["extensions"] = extensions
    used = sorted(set(extensions) | ({"KHR_materials_unlit"} if unlit else set()))
    if used:
        gltf["extensionsUsed"] = used
    while len(blob) % 4:
        blob.append(0)
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    out = struct.pack("<III", MAGIC, 2, total) + struct.pack("<II", len(text), JSON_CHUNK) + text
    out += struct.pack("<II", len(blob), BIN_CHUNK) + bytes(blob)
    Path(path).write_bytes(out)
