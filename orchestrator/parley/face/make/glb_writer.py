"""Writing simple meshes as a GLB (binary glTF 2.0): one scene, vertex colours, an optional texture
and morph targets named as three.js reads them (``extras.targetNames``), stored sparse where a target
moves few of a mesh's points."""

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
    with ``uv`` (N,2), it is painted with the GLB's texture (multiplied by the colours). With ``origin``,
    its node sits there and the positions are about it: a part that turns (an eye) turns about it."""

    name: str
    positions: np.ndarray
    triangles: np.ndarray
    colours: np.ndarray
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    uv: np.ndarray | None = None
    origin: np.ndarray | None = None


def vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (positions[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for i in range(3):
        np.add.at(normals, triangles[:, i], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals[length[:, 0] < 1e-12] = (0.0, 0.0, 1.0)  # a point only on degenerate triangles: any unit normal
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


class _Binary:
    """The GLB's binary chunk as it is filled, with its buffer views and accessors."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, array: np.ndarray, target: int | None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        raw = np.ascontiguousarray(array).tobytes()
        entry = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw)}
        if target:
            entry["target"] = target
        self.views.append(entry)
        self.blob.extend(raw)
        return len(self.views) - 1

    def add(self, array: np.ndarray, component: int, kind: str, target: int | None, minmax: bool = False) -> int:
        acc = {"bufferView": self.view(array, target), "componentType": component, "count": int(array.shape[0]),
               "type": kind}
        if minmax:
            acc["min"] = [float(v) for v in array.min(axis=0)]
            acc["max"] = [float(v) for v in array.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def add_target(self, deltas: np.ndarray) -> int:
        """A morph target's deltas: the moved points only (a sparse accessor) when they are few."""
        moved = np.flatnonzero(np.any(deltas != 0, axis=1)).astype(np.uint32)
        if len(moved) * 2 > len(deltas):
            return self.add(deltas, 5126, "VEC3", 34962, minmax=True)
        acc = {"componentType": 5126, "count": int(len(deltas)), "type": "VEC3",
               "min": [float(v) for v in deltas.min(axis=0)], "max": [float(v) for v in deltas.max(axis=0)]}
        if len(moved):  # with neither a bufferView nor sparse values, an accessor is all zeros
            acc["sparse"] = {"count": int(len(moved)),
                             "indices": {"bufferView": self.view(moved, None), "componentType": 5125},
                             "values": {"bufferView": self.view(deltas[moved], None)}}
        self.accessors.append(acc)
        return len(self.accessors) - 1


def write_glb(path: Path, meshes: list[MeshData], extensions: dict | None = None, texture: bytes | None = None,
              unlit: bool = False, closed_skin: bool = False) -> None:
    """Write ``meshes`` as one scene. ``texture`` (JPEG or PNG bytes) paints the meshes that have UVs;
    ``unlit`` shows colours and texture as they are (KHR_materials_unlit): right for a photo, whose
    light is already in it. ``closed_skin``: the textured mesh is closed and wound outwards, so it is
    drawn one-sided; a software renderer (a headless browser, a laptop without a GPU) then shades
    its far side's pixels no more."""
    binary = _Binary()
    add, add_target = binary.add, binary.add_target
    gltf_meshes, nodes = [], []
    for mesh in meshes:
        pos = mesh.positions.astype(np.float32)
        prim = {
            "attributes": {
                "POSITION": add(pos, 5126, "VEC3", 34962, minmax=True),
                "NORMAL": add(vertex_normals(pos, mesh.triangles).astype(np.float32), 5126, "VEC3", 34962),
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
            prim["targets"] = [{"POSITION": add_target(d.astype(np.float32))} for d in mesh.targets.values()]
            entry["weights"] = [0.0] * len(mesh.targets)
            entry["extras"] = {"targetNames": list(mesh.targets)}
        gltf_meshes.append(entry)
        nodes.append({"name": mesh.name, "mesh": len(gltf_meshes) - 1})
        if mesh.origin is not None:
            nodes[-1]["translation"] = [float(v) for v in mesh.origin]
    materials = [{"name": "skin", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1],
                                                           "metallicFactor": 0.0, "roughnessFactor": 0.7}}]
    if texture is not None:
        materials[0]["doubleSided"] = True
    images = []
    if texture is not None:
        mime = "image/png" if texture[:4] == b"\x89PNG" else "image/jpeg"
        images.append({"bufferView": binary.view(np.frombuffer(texture, np.uint8), None), "mimeType": mime})
        materials.append({"name": "photo", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.8},
            "doubleSided": not closed_skin})
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
        "accessors": binary.accessors,
        "bufferViews": binary.views,
        "buffers": [{"byteLength": len(binary.blob)}],
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
    blob = binary.blob
    while len(blob) % 4:
        blob.append(0)
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    out = struct.pack("<III", MAGIC, 2, total) + struct.pack("<II", len(text), JSON_CHUNK) + text
    out += struct.pack("<II", len(blob), BIN_CHUNK) + bytes(blob)
    Path(path).write_bytes(out)
