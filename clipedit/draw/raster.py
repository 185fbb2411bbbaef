"""Pure-PyTorch differentiable rasteriser for :class:`~clipedit.draw.scene.Scene` (no compiled code).

How it works (hand-written because no maintained PyPI package rasterises Bézier strokes differentiably):

1. every cubic segment is flattened into straight pieces, as many as keep the chords within 0.1 px of the curve
   (a bound from its control points; Bernstein basis, so points get gradients);
2. the canvas is cut into ``tile`` x ``tile`` pixel tiles and each piece is paired only with the tiles its
   bounding box (grown by half the stroke width) touches — the work scales with inked area, not
   paths x pixels; pairs that cannot change the image (out of reach, or farther than another piece of the same
   path at every pixel) are dropped, and tiles wholly inside a stroke are filled without evaluating any piece
   (:func:`cull_pairs`, exact);
3. a stroke's coverage of a pixel centre is ``clamp(w/2 + 0.5 - d, 0, 1)`` with ``d`` the distance to the
   nearest piece (round caps and joins follow), i.e. a one-pixel box-filter ramp across the edge; a closed
   path's coverage is ``clamp(0.5 ± d)`` inside/outside by its winding number;
4. per tile, the paths touching it are stacked in drawing order and composited with "over":
   ``C = Σ_i c_i a_i Π_{j>i}(1 - a_j) + bg Π_j(1 - a_j)`` via a reverse cumulative product.

Gradients w.r.t. points, widths and colours are exact for this coverage model (edge pixels carry the point
gradients, as in diffvg); the stroke coverage's backward is written out (:class:`SlotStrokeCoverage`) rather
than traced. Large scenes are processed in chunks of pieces to bound memory.
"""
from __future__ import annotations

import math

import torch

from clipedit.draw.scene import Scene

_EPS = 1e-9


def bezier_basis(t: torch.Tensor) -> torch.Tensor:
    """``(K, 4)`` cubic Bernstein weights at parameters ``t`` ``(K,)``."""
    t = t[:, None]
    s = 1 - t
    return torch.cat([s ** 3, 3 * s * s * t, 3 * s * t * t, t ** 3], dim=1)


def pieces_per_segment(ctrl: torch.Tensor, tolerance: float = 0.1, cap: int = 64) -> torch.Tensor:
    """How many equal-``t`` straight pieces keep each cubic within ``tolerance`` px of its chords.

    ``ctrl`` ``(S, 4, 2)`` control points in pixels. The chord of a piece of parameter length ``h`` deviates from
    the curve by at most ``h² / 8 · max|B''|``, and ``|B''| <= 6 · max(|P0 - 2P1 + P2|, |P1 - 2P2 + P3|)``, so
    ``n = ceil(sqrt(0.75 · M / tolerance))`` pieces suffice (clamped to ``[1, cap]``). Returns ``(S,)`` long.
    """
    with torch.no_grad():
        second = torch.stack([ctrl[:, 0] - 2 * ctrl[:, 1] + ctrl[:, 2], ctrl[:, 1] - 2 * ctrl[:, 2] + ctrl[:, 3]], 1)
        m = second.norm(dim=-1).amax(1)
        return torch.ceil(torch.sqrt(0.75 * m / tolerance)).clamp(1, cap).long()


def flatten_paths(scene: Scene, samples: int | None, closed: bool, tolerance: float = 0.1,
                  cap: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Straight pieces of the open (``closed=False``) or closed paths.

    ``samples``: a fixed number of pieces per cubic segment, or ``None`` to choose it per segment from its
    curvature (:func:`pieces_per_segment` with ``tolerance`` and ``cap``).
    Returns ``(a, b, path_of_piece, path_ids)``: piece end points ``(L, 2)``, the index of each piece's path
    within ``path_ids`` ``(L,)``, and ``path_ids`` (indices into ``scene.paths``).
    """
    ids = [i for i, p in enumerate(scene.paths) if p.closed == closed]
    dev = scene.background.device
    if not ids:
        z = torch.zeros(0, 2, device=dev)
        return z, z, torch.zeros(0, dtype=torch.long, device=dev), ids
    pts = torch.cat([scene.paths[i].points for i in ids])
    index, owner, offset = [], [], 0
    for k, i in enumerate(ids):
        n = scene.paths[i].points.shape[0]
        for s in range(scene.paths[i].num_segments):
            j = 3 * s
            index.append([offset + j, offset + j + 1, offset + j + 2, offset + (j + 3) % n if closed else offset + j + 3])
            owner.append(k)
        offset += n
    ctrl = pts[torch.tensor(index, device=pts.device)]  # (S, 4, 2)
    if samples is None:
        count = pieces_per_segment(ctrl, tolerance, cap)
    else:
        count = torch.full((len(ctrl),), samples, dtype=torch.long, device=pts.device)
    seg = torch.repeat_interleave(torch.arange(len(ctrl), device=pts.device), count)
    k = torch.arange(len(seg), device=pts.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    n = count[seg].to(pts.dtype)
    # neighbouring pieces evaluate the same t in the same way, so the polyline has no cracks
    a = torch.einsum("kj,kjd->kd", bezier_basis(k.to(pts.dtype) / n), ctrl[seg])
    b = torch.einsum("kj,kjd->kd", bezier_basis((k + 1).to(pts.dtype) / n), ctrl[seg])
    piece_owner = torch.tensor(owner, device=pts.device)[seg]
    return a, b, piece_owner, ids


def _tile_pairs(lo: torch.Tensor, hi: torch.Tensor, tile: int, nx: int, ny: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For boxes ``lo``/``hi`` ``(N, 2)`` in pixels, all (box, tile) overlaps as ``(box_index, tile_index)``."""
    with torch.no_grad():
        inside = (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] <= nx * tile) & (lo[:, 1] <= ny * tile)
        t0 = torch.floor(lo / tile).long()
        t1 = torch.floor(hi / tile).long()
        tx0, tx1 = t0[:, 0].clamp(0, nx - 1), t1[:, 0].clamp(0, nx - 1)
        ty0, ty1 = t0[:, 1].clamp(0, ny - 1), t1[:, 1].clamp(0, ny - 1)
        wx = tx1 - tx0 + 1
        count = wx * (ty1 - ty0 + 1) * inside
        box = torch.repeat_interleave(torch.arange(len(lo), device=lo.device), count)
        local = torch.arange(len(box), device=lo.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        tx = tx0[box] + local % wx[box]
        ty = ty0[box] + local // wx[box]
        return box, ty * nx + tx


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from points ``p`` ``(N, M, 2)`` to segments ``a``-``b`` ``(N, 1, 2)``: ``(N, M)``."""
    ab = b - a
    ap = p - a
    t = ((ap * ab).sum(-1) / ((ab * ab).sum(-1) + _EPS)).clamp(0, 1)
    q = ap - t[..., None] * ab
    return torch.sqrt((q * q).sum(-1) + _EPS)


def _capsule_parts(px: torch.Tensor, py: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """``t`` (the nearest point's parameter), ``q`` (pixel minus nearest point, as ``qx, qy``) and ``d = |q|`` for
    pixels ``(px, py)`` ``(N, M)`` and segments ``a``-``b`` ``(N, 2)``; every result ``(N, M)``."""
    ax, ay = a[:, 0:1], a[:, 1:2]
    abx, aby = b[:, 0:1] - ax, b[:, 1:2] - ay
    qx, qy = px - ax, py - ay
    t = ((qx * abx + qy * aby) / (abx * abx + aby * aby + _EPS)).clamp_(0, 1)
    qx = qx.sub_(t * abx)
    qy = qy.sub_(t * aby)
    return t, qx, qy, (qx * qx + qy * qy + _EPS).sqrt_()


#: The most (tile, path) keys for which :func:`cull_pairs` reduces over a dense array (16 MiB of float32) instead
#: of sorting the keys: 1,024 paths on a 512 px canvas fit.
DENSE_SLOTS = 1 << 22


def cull_pairs(a: torch.Tensor, b: torch.Tensor, r: torch.Tensor, piece: torch.Tensor, tiles: torch.Tensor,
               path: torch.Tensor, origin: torch.Tensor, tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which (piece, tile) pairs can change a stroke's coverage of its tile, and which (path, tile) slots are
    covered whole. Exact for both the coverage and its gradient, since a slot's coverage is the largest of its pieces'.

    Per pair, ``lo`` (the distance between the piece and the box of the tile's pixel centres) and ``hi`` (the largest
    distance from that box's four corners; distance to a segment is convex, so the corners bound it) bound the
    distance of every pixel centre in the tile. A pair is dropped when its piece is out of reach
    (``lo >= r + 0.5``: coverage 0) or dominated (``lo >`` the smallest ``hi`` of its slot: another piece of the same
    path is nearer at every pixel). A slot whose smallest ``hi <= r - 0.5`` is fully covered (coverage 1, zero
    gradient) and needs no piece at all.

    Args: piece end points ``a``, ``b`` ``(L, 2)`` and half-widths ``r`` ``(L,)``; pairs ``piece``, ``tiles``,
    ``path`` ``(K,)`` and tile ``origin`` ``(K, 2)``. Returns ``(keep (K,) bool, full (K,) bool)``: pairs to evaluate,
    and one representative pair per fully covered slot.
    """
    with torch.no_grad():
        pr = r[piece].detach()
        lo, hi = pr.new_empty(len(piece)), pr.new_empty(len(piece))
        c0, c1 = 0.5, tile - 0.5
        corners = torch.tensor([[c0, c0], [c1, c0], [c0, c1], [c1, c1]], dtype=pr.dtype, device=pr.device)
        half = pr.new_full((1, 2), (tile - 1) * 0.5)  # the pixel-centre box's half-size
        for s in range(0, len(piece), 1 << 17):  # chunks: the per-pair temporaries of a 512 px scene add up
            sl = slice(s, s + (1 << 17))
            pa, pb = a[piece[sl]].detach(), b[piece[sl]].detach()
            d = _stroke_t_d(origin[sl], corners, pa, pb)[1]  # (k, 4): the four corners' distances
            lo[sl] = _centred_box_segment_distance(origin[sl] + tile * 0.5, half, pa, pb, d.amin(1))
            hi[sl] = d.amax(1)
        n_paths = int(path.max()) + 1
        dense = (len(origin) and int(tiles.max()) + 1) * n_paths
        if dense <= DENSE_SLOTS:
            # one cell per (tile, path) key: the per-slot reductions are scatters, no sort (3x faster than unique)
            key = tiles * n_paths + path
            best = hi.new_full((dense,), float("inf")).scatter_reduce_(0, key, hi, reduce="amin")[key]
            full_pair = best <= pr - 0.5  # every pair of a slot has its path's half-width
            keep = (lo < pr + 0.5) & (lo <= best) & ~full_pair
            at = torch.arange(len(key), dtype=torch.int32, device=a.device)
            rep = torch.full((dense,), -1, dtype=torch.int32, device=a.device).scatter_(0, key[full_pair], at[full_pair])
            return keep, full_pair & (rep[key] == at)  # one representative pair per fully covered slot
        keys, slot = torch.unique(tiles * n_paths + path, return_inverse=True)
        best = hi.new_full((len(keys),), float("inf")).scatter_reduce(0, slot, hi, reduce="amin")
        full_slot = best <= slot_r(pr, slot, len(keys)) - 0.5
        keep = (lo < pr + 0.5) & (lo <= best[slot]) & ~full_slot[slot]
        first = torch.zeros(len(keys), dtype=torch.long, device=a.device).scatter_(
            0, slot, torch.arange(len(slot), device=a.device))  # some pair of each slot
        full = torch.zeros_like(keep)
        full[first[full_slot]] = True
        return keep, full


def box_segment_distance(lo: torch.Tensor, hi: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                         corner_distance: torch.Tensor) -> torch.Tensor:
    """Distance between boxes ``[lo, hi]`` and segments ``a``-``b`` (all ``(K, 2)``): 0 where they meet, else the
    smaller of the end points' distances to the box and ``corner_distance`` (the corners' nearest distance to the
    segment, ``(K,)``): two disjoint convex shapes are nearest at a vertex of one of them. ``(K,)``."""
    return _centred_box_segment_distance((lo + hi) * 0.5, (hi - lo) * 0.5, a, b, corner_distance)


def _centred_box_segment_distance(c: torch.Tensor, h: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                                  corner_distance: torch.Tensor) -> torch.Tensor:
    """:func:`box_segment_distance` for boxes given by centre ``c`` ``(K, 2)`` and half-size ``h`` (broadcast)."""
    ua, ub, ab = a - c, b - c, b - a
    da = (ua.abs() - h).clamp_min_(0).square_().sum(1)  # squared distance of each end point to the box
    db = (ub.abs() - h).clamp_min_(0).square_().sum(1)
    d = torch.minimum(torch.minimum(da, db).sqrt_(), corner_distance)
    # They meet iff no separating axis among x, y and the segment's normal (a segment is a flat convex polygon):
    # fewer, 1-D passes than clipping the segment to both slabs (3x faster on a CPU at 10^5 pairs)
    e = ab.abs()
    h = h.expand_as(e)
    meet = ((ua + ub).abs() <= 2 * h + e).all(1)
    meet &= (ab[:, 0] * ua[:, 1] - ab[:, 1] * ua[:, 0]).abs() <= h[:, 0] * e[:, 1] + h[:, 1] * e[:, 0]
    return d.masked_fill_(meet, 0)


def slot_r(pr: torch.Tensor, slot: torch.Tensor, n: int) -> torch.Tensor:
    """The half-width of each slot's path (every pair of a slot has the same path, so any pair's will do)."""
    return pr.new_zeros(n).scatter_(0, slot, pr)


def _stroke_t_d(origin: torch.Tensor, offsets: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``t`` and ``d`` of :func:`_capsule_parts` for the pixels ``origin + offsets``, in fewer passes over ``(N, M)``:
    the pixel offsets enter through one matrix product (``t``'s numerator is affine in them) and the nearest-point
    correction is fused into ``addcmul``. Returns ``(t, d)``, both ``(N, M)``."""
    ab = b - a
    d0 = origin - a  # (N, 2): tile origin relative to the piece's start
    inv = 1 / ((ab * ab).sum(1, keepdim=True) + _EPS)
    t = torch.addmm((d0 * ab).sum(1, keepdim=True), ab, offsets.T).mul_(inv).clamp_(0, 1)
    qx = (d0[:, 0:1] + offsets[:, 0]).addcmul_(t, ab[:, 0:1], value=-1)
    qy = (d0[:, 1:2] + offsets[:, 1]).addcmul_(t, ab[:, 1:2], value=-1)
    return t, qx.mul_(qx).addcmul_(qy, qy).add_(_EPS).sqrt_()


class SlotStrokeCoverage(torch.autograd.Function):
    """The coverage of whole (path, tile) slots by strokes: ``clamp(r + 0.5 - min_k d_k, 0, 1)`` where ``d_k`` is the
    distance from the pixels ``origin + offsets`` to piece ``k`` of the slot. Pairs: tile origins ``origin`` ``(K, 2)``,
    pieces ``a``-``b`` ``(K, 2)``, their slot ``slot`` ``(K,)``; pixel-centre offsets ``(M, 2)``; half-widths per slot
    ``r`` ``(S, 1)`` (every piece of a path has its path's width, so the largest coverage is the nearest piece's).
    Returns ``(S, M)``. The forward evaluates ``(K, M)`` distances in passes of ``chunk`` pairs.

    Hand-written, sparse backward. The gradient is non-zero only on the ramp (``0 < r + 0.5 - d < 1``, about a
    tenth of a CLIPDraw scene's slot pixels) and there it belongs to the slot's nearest piece alone, while a slot holds
    about eight pieces: so the backward visits only the ramp's pixels, measures each one against its own slot's
    pieces (1-D, no ``(K, M)`` array), finds the nearest (exact ties split evenly, as ``amax`` would) and gives it
    ``g``. With ``q = p - a - t (b - a)`` the pixel minus its nearest point and ``w = g / d``: ``∂/∂r = Σ g``,
    ``∂/∂b = Σ w t q``, ``∂/∂a = Σ w (1 - t) q`` (``t``'s own derivative drops out: the point is the nearest). Passes
    of ``chunk`` (pixel, piece) candidates bound its memory.
    """

    @staticmethod
    def forward(ctx, origin, offsets, a, b, slot, r, chunk=1 << 16):
        n_slots, m = r.shape[0], offsets.shape[0]
        dmin = origin.new_full((n_slots, m), math.inf)
        for s in range(0, len(slot), chunk):
            sl = slice(s, s + chunk)
            d = _stroke_t_d(origin[sl], offsets, a[sl], b[sl])[1]
            dmin.scatter_reduce_(0, slot[sl, None].expand(-1, m), d, reduce="amin")
        ctx.chunk = max(1, chunk * m // 8)  # backward candidates per pass: ~100 B each, so ~13 MiB at the default
        ctx.save_for_backward(origin, offsets, a, b, slot, r, dmin)
        return torch.sub(r + 0.5, dmin).clamp_(0, 1)

    @staticmethod
    def backward(ctx, grad):
        origin, offsets, a, b, slot, r, dmin = ctx.saved_tensors
        m, dev = offsets.shape[0], a.device
        g = torch.where((dmin - r).abs_() < 0.5, grad, 0.0)  # the ramp
        gr = g.sum(1, keepdim=True)
        ga, gb = torch.zeros_like(a), torch.zeros_like(b)
        flat = g.view(-1).nonzero()[:, 0]  # the ramp's (slot, pixel) elements with a gradient
        if len(flat) == 0:
            return None, None, ga, gb, None, gr, None
        counts = torch.bincount(slot, minlength=g.shape[0])
        order = torch.argsort(slot, stable=True)  # each slot's pairs, contiguous
        start = torch.cumsum(counts, 0) - counts
        ab = b - a
        # per pair, one row of what a candidate needs: tile origin minus a, b - a, 1 / |b - a|² (one gather each)
        table = torch.cat([origin - a, ab, 1 / ((ab * ab).sum(1, keepdim=True) + _EPS)], 1)
        n = counts.index_select(0, flat // m)  # candidates per element: its slot's pieces
        ends = torch.cumsum(n, 0)
        cuts = torch.arange(ctx.chunk, max(int(ends[-1]), ctx.chunk), ctx.chunk, device=dev)
        bounds = [0, *torch.searchsorted(ends, cuts, right=True).tolist(), len(flat)]
        gflat = g.view(-1)
        for e0, e1 in zip(bounds[:-1], bounds[1:]):
            if e1 <= e0:
                continue
            el, ne = flat[e0:e1], n[e0:e1]
            cand = torch.repeat_interleave(torch.arange(e1 - e0, device=dev), ne)  # each candidate's element
            base = start.index_select(0, el // m) - (torch.cumsum(ne, 0) - ne)
            pair = order.index_select(0, base.index_select(0, cand) + torch.arange(len(cand), device=dev))
            row = table.index_select(0, pair)  # (n, 5)
            off = offsets.index_select(0, (el % m).index_select(0, cand))
            px, py = row[:, 0] + off[:, 0], row[:, 1] + off[:, 1]  # pixel minus a
            abx, aby = row[:, 2], row[:, 3]
            t = (px * abx + py * aby).mul_(row[:, 4]).clamp_(0, 1)
            qx, qy = px.addcmul_(t, abx, value=-1), py.addcmul_(t, aby, value=-1)
            d = (qx * qx).addcmul_(qy, qy).add_(_EPS).sqrt_()
            dm = d.new_full((e1 - e0,), math.inf).scatter_reduce_(0, cand, d, reduce="amin")
            win = (d == dm.index_select(0, cand)).nonzero()[:, 0]  # the nearest piece(s) of each element
            cw = cand.index_select(0, win)
            ties = torch.bincount(cw, minlength=e1 - e0)  # >= 1: exact ties split the gradient, as amax does
            w = (gflat.index_select(0, el) / ties).index_select(0, cw) / d.index_select(0, win)
            wt = w * t.index_select(0, win)
            q = torch.stack([qx.index_select(0, win), qy.index_select(0, win)], 1)
            pw = pair.index_select(0, win)
            gb.index_add_(0, pw, wt[:, None] * q)
            ga.index_add_(0, pw, (w - wt)[:, None] * q)
        return None, None, ga, gb, None, gr, None


def _over(cov: torch.Tensor, rgba: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Layers of coverage ``cov`` ``(n, D, P)`` with colours and opacities ``rgba`` ``(n, D, 4)`` (layer 0 at the
    bottom; padding layers have opacity 0) over backgrounds ``bg`` ``(n, 3, P)``: ``(n, 3, P)``, differentiable
    (:class:`OverComposite`). A layer's alpha is its coverage times its opacity."""
    return OverComposite.apply(cov, rgba, bg)


class OverComposite(torch.autograd.Function):
    """Layer-over-layer compositing with a hand-written backward that keeps only its inputs.

    Autograd through the cumulative product would keep about six ``(n, D, P)`` intermediates per depth bucket
    alive until the backward (on a 512 px canvas with 1,024 paths, most of the renderer's memory). The backward
    recomputes ``a_k = cov_k · opacity_k`` and ``after_k = Π_{j>k}(1 - a_j)`` and uses ``∂out/∂a_k = (rgb_k - B_k) ·
    after_k``, ``∂out/∂rgb_k = a_k · after_k`` and ``∂out/∂bg = Π_j (1 - a_j)``, where ``B_k`` is the colour of
    everything below layer ``k`` (built up one layer at a time: a division by ``1 - a_k`` would fail on opaque
    layers). Inputs: ``cov`` ``(n, D, P)``, ``rgba`` ``(n, D, 4)``, ``bg`` ``(n, 3, P)``.
    """

    CHUNK = 1 << 20  # (tile, layer, pixel) elements per pass: bounds the temporaries of deep, many-tile buckets

    @staticmethod
    def _parts(cov: torch.Tensor, rgba: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``alpha`` and ``after`` ``(n, D, P)`` and ``through_0`` ``(n, 1, P)`` (the background's share)."""
        alpha = cov * rgba[:, :, 3:]
        after = torch.flip(alpha, [1]).neg_().add_(1).cumprod_(1)  # Π_{j>=i}(1 - a_j), top layer first
        through0 = after[:, -1:].clone()
        after = torch.cat([after.new_ones(alpha.shape[0], 1, alpha.shape[2]), after[:, :-1]], 1).flip(1)
        return alpha, after, through0

    @staticmethod
    def forward(ctx, cov, rgba, bg):
        n, D, P = cov.shape
        out = cov.new_empty(n, 3, P)
        step = max(1, OverComposite.CHUNK // (D * P))
        for s in range(0, n, step):
            sl = slice(s, s + step)
            alpha, after, through0 = OverComposite._parts(cov[sl], rgba[sl])
            seen = after.mul_(alpha)  # each layer's share of the final colour
            # A plain sum over layers, not a matrix product: padding layers then add exact zeros, so the result
            # does not depend on how deep a tile's group is padded (a batched matmul may block the sum differently).
            for c in range(3):
                out[sl, c] = (seen * rgba[sl, :, c:c + 1]).sum(1)
            out[sl] += bg[sl] * through0
        ctx.save_for_backward(cov, rgba, bg)
        return out

    @staticmethod
    def backward(ctx, grad):
        cov, rgba, bg = ctx.saved_tensors
        n, D, P = cov.shape
        need_cov, need_rgba, need_bg = ctx.needs_input_grad[:3]
        g_cov = torch.empty_like(cov) if need_cov else None
        g_rgba = torch.empty_like(rgba) if need_rgba else None
        g_bg = torch.empty_like(grad) if need_bg else None
        step = max(1, OverComposite.CHUNK // (D * P))
        for s in range(0, n, step):
            sl = slice(s, s + step)
            alpha, after, through0 = OverComposite._parts(cov[sl], rgba[sl])
            g = grad[sl]
            if need_bg:
                g_bg[sl] = g * through0
            if not (need_cov or need_rgba):
                continue
            g_alpha = torch.empty_like(alpha)
            below = bg[sl].clone()  # B_0: the background
            for k in range(D):
                diff = rgba[sl, k, :3, None] - below  # (n, 3, P)
                g_alpha[:, k] = (diff * g).sum(1) * after[:, k]
                below.addcmul_(alpha[:, k:k + 1], diff)  # B_{k+1} = B_k + a_k (rgb_k - B_k)
            if need_rgba:
                g_rgba[sl, :, :3] = torch.einsum("ndp,ncp->ndc", after.mul_(alpha), g)
                g_rgba[sl, :, 3:] = (g_alpha * cov[sl]).sum(2, keepdim=True)
            if need_cov:
                g_cov[sl] = g_alpha.mul_(rgba[sl, :, 3:])
        return g_cov, g_rgba, g_bg


def _composite(slot_tile: torch.Tensor, depth: torch.Tensor, counts: torch.Tensor, cov: torch.Tensor,
               rgba: torch.Tensor, bg_tiles: torch.Tensor) -> torch.Tensor:
    """Composite each tile's slots (coverage ``cov`` ``(K, P)``, ``rgba`` ``(K, 4)`` at ``depth`` in tile ``slot_tile``,
    ``counts`` slots per tile) over ``bg_tiles`` ``(tiles, 3, P)``. Tiles are grouped by depth into powers of two,
    so the padded ``(tiles, D, P)`` layers cost at most twice the slots instead of every tile padded to the deepest
    one (a few deep tiles set the memory of a whole 512 px canvas otherwise). Returns ``(tiles, 3, P)``."""
    n_tiles, P = bg_tiles.shape[0], bg_tiles.shape[2]
    bucket = torch.where(counts > 0, torch.ceil(torch.log2(counts.clamp(min=1).float())).long(), -1)
    bg_flat = bg_tiles.reshape(n_tiles, -1)
    rows: list[torch.Tensor] = [torch.nonzero(bucket < 0)[:, 0]]
    parts = [bg_flat[rows[0]]]
    for b in torch.unique(bucket[bucket >= 0]).tolist():
        tiles_b = torch.nonzero(bucket == b)[:, 0]
        pos = torch.full((n_tiles,), -1, dtype=torch.long, device=counts.device)
        pos[tiles_b] = torch.arange(len(tiles_b), device=counts.device)
        sel = torch.nonzero(pos[slot_tile] >= 0)[:, 0]
        D = int(counts[tiles_b].max())
        at = (pos[slot_tile[sel]], depth[sel])
        a_b = cov.new_zeros(len(tiles_b), D, P).index_put(at, cov[sel])
        c_b = rgba.new_zeros(len(tiles_b), D, 4).index_put(at, rgba[sel])
        parts.append(_over(a_b, c_b, bg_tiles[tiles_b]).reshape(len(tiles_b), -1))
        rows.append(tiles_b)
    order = torch.cat(rows)
    out = torch.cat(parts).index_select(0, torch.argsort(order))  # back to tile order
    return out.view(n_tiles, 3, P)


class TorchRenderer:
    """Differentiable rasteriser in plain PyTorch (CPU, CUDA, MPS).

    Args:
        samples: a fixed number of straight pieces per cubic segment; ``None`` (default) chooses it per segment
            so that the pieces stay within ``tolerance`` px of the curve (see :func:`pieces_per_segment`).
        tolerance: the largest chord error in pixels when ``samples`` is ``None``.
        max_pieces: the most pieces one segment is cut into when ``samples`` is ``None``.
        cull: skip the (piece, tile) pairs that cannot change the image (:func:`cull_pairs`; exact, only faster).
        tile: tile side in pixels.
        max_pairs: (piece, tile) pairs evaluated at once; bounds memory on large scenes.
    """

    name = "torch"

    def __init__(self, samples: int | None = None, tile: int = 8, max_pairs: int = 1 << 14, tolerance: float = 0.1,
                 max_pieces: int = 64, cull: bool = True) -> None:
        if (samples is not None and samples < 1) or tile < 1 or max_pieces < 1:
            raise ValueError("samples, tile and max_pieces must be >= 1")
        if not tolerance > 0:
            raise ValueError(f"tolerance must be > 0 px, got {tolerance}")
        self.samples, self.tile, self.max_pairs = samples, tile, max_pairs
        self.tolerance, self.max_pieces, self.cull = tolerance, max_pieces, cull

    def __repr__(self) -> str:
        pieces = self.samples if self.samples is not None else f"<= {self.tolerance} px"
        return f"TorchRenderer(pieces={pieces}, tile={self.tile})"

    # -- coverage ---------------------------------------------------------------------------------------
    def _pixel_offsets(self, device, dtype) -> torch.Tensor:
        r = torch.arange(self.tile, device=device, dtype=dtype) + 0.5
        yy, xx = torch.meshgrid(r, r, indexing="ij")
        return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (T², 2) as (x, y)

    def _origins(self, tiles: torch.Tensor, nx: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.stack([(tiles % nx) * self.tile, (tiles // nx) * self.tile], dim=1).to(dtype)

    def _stroke_slots(self, scene: Scene, nx: int, ny: int, offs: torch.Tensor):
        a, b, owner, ids = flatten_paths(scene, self.samples, False, self.tolerance, self.max_pieces)
        if not ids:
            return None
        widths = torch.stack([scene.paths[i].width for i in ids]).to(a.dtype)
        r = (widths.abs() * 0.5)[owner]
        grow = (r.detach() + 1.0)[:, None]
        piece, tiles = _tile_pairs(torch.minimum(a, b).detach() - grow, torch.maximum(a, b).detach() + grow,
                                   self.tile, nx, ny)
        if len(piece) == 0:
            return None
        paths = torch.tensor(ids, device=a.device)[owner[piece]]
        origin = self._origins(tiles, nx, a.dtype)
        if self.cull:
            keep, full = cull_pairs(a, b, r, piece, tiles, paths, origin, self.tile)
        else:
            keep, full = torch.ones_like(piece, dtype=torch.bool), torch.zeros_like(piece, dtype=torch.bool)
        full_paths, full_tiles = paths[full], tiles[full]  # fully covered slots: coverage 1, no gradient
        piece, tiles, origin, paths = piece[keep], tiles[keep], origin[keep], paths[keep]
        # one row per (path, tile) slot: the nearest of the slot's pieces decides its coverage
        keys, slot = torch.unique(tiles * len(scene.paths) + paths, return_inverse=True)
        first = torch.zeros(len(keys), dtype=torch.long, device=a.device).scatter_(
            0, slot, torch.arange(len(slot), device=a.device))  # some pair of each slot
        cov = SlotStrokeCoverage.apply(origin, offs, a[piece], b[piece], slot, r[piece[first], None],
                                       self.max_pairs)  # chunks of max_pairs bound the (pairs, T²) temporaries
        return (torch.cat([full_paths, paths[first]]), torch.cat([full_tiles, tiles[first]]),
                torch.cat([cov.new_ones(len(full_paths), offs.shape[0]), cov]))

    def _fill_slots(self, scene: Scene, nx: int, ny: int, offs: torch.Tensor):
        a, b, owner, ids = flatten_paths(scene, self.samples, True, self.tolerance, self.max_pieces)
        if not ids:
            return None
        n = len(ids)
        counts = torch.bincount(owner, minlength=n)
        emax = int(counts.max())
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(owner), device=a.device) - start[owner]
        first = a[start]  # padding: a zero-length piece at the path's first point changes neither test
        ea = first[:, None, :].expand(n, emax, 2).clone().index_put((owner, slot), a)
        eb = first[:, None, :].expand(n, emax, 2).clone().index_put((owner, slot), b)
        ends = torch.cat([ea, eb], 1).detach()  # (paths, 2E, 2); padding repeats the first point, inside the box
        path, tiles = _tile_pairs(ends.amin(1) - 1.0, ends.amax(1) + 1.0, self.tile, nx, ny)
        if len(path) == 0:
            return None
        evenodd = torch.tensor([scene.paths[i].fill_rule == "evenodd" for i in ids], device=a.device)
        origin = self._origins(tiles, nx, a.dtype)
        covs = []
        step = max(1, self.max_pairs // emax)
        for s in range(0, len(path), step):
            sl = slice(s, s + step)
            p = (origin[sl, None, :] + offs[None])[:, None]  # (n, 1, T², 2)
            pa, pb = ea[path[sl]][:, :, None], eb[path[sl]][:, :, None]  # (n, E, 1, 2)
            with torch.no_grad():
                cross = (pb[..., 0] - pa[..., 0]) * (p[..., 1] - pa[..., 1]) - (p[..., 0] - pa[..., 0]) * (pb[..., 1] - pa[..., 1])
                up = (pa[..., 1] <= p[..., 1]) & (pb[..., 1] > p[..., 1]) & (cross > 0)
                down = (pb[..., 1] <= p[..., 1]) & (pa[..., 1] > p[..., 1]) & (cross < 0)
                wind = (up.int() - down.int()).sum(1)  # (n, T²)
                inside = torch.where(evenodd[path[sl], None], wind % 2 == 1, wind != 0)
            n_, e_ = pa.shape[:2]
            d = _segment_distance(p.expand(n_, e_, -1, -1).reshape(n_ * e_, -1, 2), pa.reshape(-1, 1, 2),
                                  pb.reshape(-1, 1, 2)).reshape(n_, e_, -1).amin(1)
            covs.append(torch.where(inside, 0.5 + d, 0.5 - d).clamp(0, 1))
        paths = torch.tensor(ids, device=a.device)[path]
        return paths, tiles, torch.cat(covs)

    # -- compositing ------------------------------------------------------------------------------------
    def __call__(self, scene: Scene) -> torch.Tensor:
        return self.render(scene)

    def render(self, scene: Scene) -> torch.Tensor:
        """Rasterise ``scene``: ``(1, 3, H, W)`` in [0, 1] on the scene's device, differentiable."""
        T, H, W = self.tile, scene.height, scene.width
        nx, ny = math.ceil(W / T), math.ceil(H / T)
        dev = scene.background.device
        dtype = scene.paths[0].points.dtype if scene.paths else torch.float32  # float32 unless the scene is float64
        offs = self._pixel_offsets(dev, dtype)
        bg = scene.background.to(dtype)
        if bg.ndim == 1:
            bg_tiles = bg.view(1, 3, 1).expand(nx * ny, 3, T * T)
        else:
            if tuple(bg.shape) != (3, H, W):
                raise ValueError(f"background image must be (3, {H}, {W}), got {tuple(bg.shape)}")
            pad = torch.nn.functional.pad(bg, (0, nx * T - W, 0, ny * T - H))
            bg_tiles = pad.reshape(3, ny, T, nx, T).permute(1, 3, 0, 2, 4).reshape(ny * nx, 3, T * T)
        parts = [s for s in (self._stroke_slots(scene, nx, ny, offs), self._fill_slots(scene, nx, ny, offs)) if s]
        if parts:
            P = len(scene.paths)
            paths, tiles, cov = parts[0] if len(parts) == 1 else (torch.cat(c) for c in zip(*parts))  # no copy of one
            keys, inv = torch.unique(tiles * P + paths, return_inverse=True)  # sorted: tile-major, then draw order
            seen = cov.detach().amax(1) > 0  # a slot covering nothing changes nothing
            if len(keys) == len(inv):
                # Every (path, tile) slot came once (a path is stroked or filled, and a stroke's fully covered slots
                # are not evaluated): a gather in key order, one copy of the coverage and nothing saved but indices.
                order = torch.empty_like(inv).scatter_(0, inv, torch.arange(len(inv), device=dev))
                order = order[seen[order]]
                keys, slot_cov = tiles[order] * P + paths[order], cov.index_select(0, order)
            else:
                slot_cov = cov.new_zeros(len(keys), T * T).scatter_reduce(
                    0, inv[:, None].expand(-1, T * T), cov, reduce="amax", include_self=True)
                live = torch.nonzero(slot_cov.detach().amax(1) > 0)[:, 0]
                keys, slot_cov = keys[live], slot_cov[live]
            del parts, cov  # the per-part coverage is not needed again: free it before compositing
            slot_tile, slot_path = keys // P, keys % P
            colors = torch.stack([p.color for p in scene.paths]).to(dtype).clamp(0, 1)
            counts = torch.bincount(slot_tile, minlength=nx * ny)
            depth = torch.arange(len(keys), device=dev) - (torch.cumsum(counts, 0) - counts)[slot_tile]
            out = _composite(slot_tile, depth, counts, slot_cov, colors[slot_path], bg_tiles)
        else:
            out = bg_tiles
        img = out.reshape(ny, nx, 3, T, T).permute(2, 0, 3, 1, 4).reshape(3, ny * T, nx * T)
        return img[:, :H, :W].unsqueeze(0)
