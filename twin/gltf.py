"""A storey of the twin as binary glTF 2.0 (GLB) for the 3D view: one node per element, named by its GlobalId.

Frame: glTF is y up, metres, right-handed. The twin's world frame is z up, metres, so a world point
``(x, y, z)`` becomes ``(x, z, -y)`` (a rotation of -90° about x; it keeps triangle winding)::

    gltf = [[1, 0,  0],      world = [[1,  0, 0],
            [0, 0,  1],               [0,  0, -1],
            [0, -1, 0]] @ world       [0,  1, 0]] @ gltf

Layout of the file (one buffer, two buffer views, two accessors per element)::

    bufferView 0  POSITION   float32 VEC3, every element's own vertices, element after element
    bufferView 1  indices    uint16 (uint32 if an element has 65,536 vertices or more), element-local
    node i        name = GlobalId of ``rows[i]``, mesh i
    mesh i        one TRIANGLES primitive: POSITION accessor 2i, indices accessor 2i + 1

There is no NORMAL attribute and no material: the glTF spec has clients compute flat normals when
normals are absent (three.js' GLTFLoader then flat-shades), which suits a building's planar faces
and keeps the file smaller, and the viewer colours each node by status itself.

Packing is vectorised: triangles are sorted by element once, and vertices are re-indexed per element
with one ``np.unique`` over (element, vertex) keys. Only the JSON node/mesh/accessor lists are built
per element.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from twin.model import Twin

GLB_MAGIC = 0x46546C67  # b"glTF" little-endian
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"

FLOAT = 5126
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963

# World (z up) to glTF (y up): (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=np.float32)


def storey_rows(twin: Twin, storey_global_id: str | None) -> np.ndarray:
    """(n,) int64 rows of the physical elements on a storey that own triangles, in element order.

    ``storey_global_id=None`` selects the elements contained in no storey.
    """
    has_triangles = twin.geometry.has_triangles
    return np.array([i for i, e in enumerate(twin.elements)
                     if e.storey == storey_global_id and e.physical and has_triangles[i]], dtype=np.int64)


def _pad(data: bytes, filler: bytes) -> bytes:
    return data + filler * (-len(data) % 4)


def glb_container(document: dict, binary: bytes) -> bytes:
    """A GLB file: 12-byte header, a JSON chunk (space-padded), a BIN chunk (zero-padded) if ``binary``."""
    json_chunk = _pad(json.dumps(document, separators=(",", ":")).encode(), b" ")
    chunks = struct.pack("<II", len(json_chunk), CHUNK_JSON) + json_chunk
    if binary:
        bin_chunk = _pad(binary, b"\0")
        chunks += struct.pack("<II", len(bin_chunk), CHUNK_BIN) + bin_chunk
    return struct.pack("<III", GLB_MAGIC, GLB_VERSION, 12 + len(chunks)) + chunks


def _shortest(values: np.ndarray) -> list:
    """float32 values as the shortest decimals that round back to them (the spec reads min/max as float32).

    ``27.392338`` instead of float64's ``27.392337799072266``: a sixth less JSON for a large storey.
    """
    return values.astype(str).astype(np.float64).tolist()


def _rows(twin: Twin, rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise ValueError(f"rows must be a 1-D integer array, got shape {rows.shape} dtype {rows.dtype}")
    n = len(twin.elements)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"rows out of range for a twin of {n} elements")
    if len(np.unique(rows)) != len(rows):
        raise ValueError("rows has duplicates: an element can be only one node")
    return rows.astype(np.int64)


def storey_glb(twin: Twin, rows: np.ndarray) -> bytes:
    """GLB bytes of the elements ``rows`` (see the module docstring for frame and layout).

    rows : (n,) int, element rows of ``twin`` (e.g. :func:`storey_rows`), no duplicates. Nodes follow
        the order of ``rows``; rows whose element owns no triangle get no node.
    """
    rows = _rows(twin, rows)
    geometry = twin.geometry
    # Rank of each element row in ``rows`` (-1: not asked for), then the asked-for triangles by rank.
    rank_of_row = np.full(len(twin.elements), -1, np.int64)
    rank_of_row[rows] = np.arange(len(rows))
    tri_rank = rank_of_row[geometry.triangle_element]
    picked = np.flatnonzero(tri_rank >= 0)
    picked = picked[np.argsort(tri_rank[picked], kind="stable")]
    tri_rank = tri_rank[picked]
    triangles = geometry.triangles[picked].astype(np.int64)  # (M, 3) world vertex indices

    # Each element gets its own copy of the vertices it uses: unique (rank, vertex) keys, sorted by rank.
    n_world = max(len(geometry.vertices), 1)
    keys, local = np.unique((tri_rank[:, None] * n_world + triangles).ravel(), return_inverse=True)
    vertex_rank = keys // n_world
    positions = geometry.vertices[keys % n_world].astype(np.float32)[:, [0, 2, 1]]  # (P, 3), glTF frame
    positions[:, 2] *= -1  # (x, y, z) -> (x, z, -y): Z_UP_TO_Y_UP, without a matrix product

    ranks = np.unique(tri_rank)  # ranks that own triangles, ascending
    vertex_start = np.searchsorted(vertex_rank, ranks)
    vertex_count = np.diff(np.append(vertex_start, len(keys)))
    tri_start = np.searchsorted(tri_rank, ranks)
    tri_count = np.diff(np.append(tri_start, len(tri_rank)))
    # Element-local indices: the packed index minus the element's first packed vertex.
    local = local.reshape(-1, 3) - vertex_start[np.searchsorted(ranks, tri_rank)][:, None]
    wide = bool(vertex_count.size) and int(vertex_count.max()) > 0xFFFF
    index_type, index_dtype = (UNSIGNED_INT, np.uint32) if wide else (UNSIGNED_SHORT, np.uint16)
    indices = local.astype(index_dtype).ravel()

    if ranks.size:
        lo = _shortest(np.minimum.reduceat(positions, vertex_start, axis=0))
        hi = _shortest(np.maximum.reduceat(positions, vertex_start, axis=0))
    else:
        lo = hi = []

    position_bytes = positions.tobytes()
    index_offset = len(position_bytes)
    binary = position_bytes + indices.tobytes()
    itemsize = np.dtype(index_dtype).itemsize

    nodes, meshes, accessors = [], [], []
    columns = (ranks, vertex_start, vertex_count, tri_start, tri_count)
    for k, (rank, v0, nv, t0, nt) in enumerate(zip(*(c.tolist() for c in columns), strict=True)):
        nodes.append({"name": twin.elements[rows[rank]].global_id, "mesh": k})
        primitive = {"attributes": {"POSITION": 2 * k}, "indices": 2 * k + 1}  # mode: TRIANGLES by default
        meshes.append({"primitives": [primitive]})
        accessors.append({"bufferView": 0, "byteOffset": 12 * v0, "componentType": FLOAT, "count": nv,
                          "type": "VEC3", "min": lo[k], "max": hi[k]})
        accessors.append({"bufferView": 1, "byteOffset": 3 * itemsize * t0, "componentType": index_type,
                          "count": 3 * nt, "type": "SCALAR"})

    document = {
        "asset": {"version": "2.0", "generator": "SiteTwin twin.gltf"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(nodes)))} if nodes else {}],  # the schema wants 1+ nodes
    }
    if nodes:
        document |= {
            "nodes": nodes,
            "meshes": meshes,
            "accessors": accessors,
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": index_offset, "byteStride": 12,
                 "target": ARRAY_BUFFER},
                {"buffer": 0, "byteOffset": index_offset, "byteLength": len(binary) - index_offset,
                 "target": ELEMENT_ARRAY_BUFFER},
            ],
            "buffers": [{"byteLength": len(binary)}],
        }
    return glb_container(document, binary if nodes else b"")
