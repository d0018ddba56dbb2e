"""The official DAVIS J / F measures, written straightforwardly per frame.

This is the algorithm of davis2017-evaluation (``davis2017/metrics.py``: ``db_eval_iou``,
``f_measure``, ``_seg2bmap``; reused verbatim in spirit by the MeViS and ReVOS
evaluators): a full-frame boundary map per mask, ``cv2.dilate`` with
``skimage.morphology.disk``, counts of the overlaps. It is the yardstick the fast
:mod:`desa2va_mm.evaluation.functional.jf` is tested and benchmarked against; metrics
do not use it. ``scikit-image`` is imported lazily (test extra).
"""
import numpy as np

__all__ = ['reference_db_eval_iou', 'reference_f_measure', 'reference_db_eval_boundary',
           'reference_seg2bmap']


def reference_db_eval_iou(annotation: np.ndarray, segmentation: np.ndarray) -> np.ndarray:
    """J per frame (``(H, W)`` or ``(T, H, W)``), 1 where the union is empty."""
    annotation = annotation.astype(bool)
    segmentation = segmentation.astype(bool)
    void_pixels = np.zeros_like(segmentation)
    inters = np.sum((segmentation & annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    union = np.sum((segmentation | annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    with np.errstate(invalid='ignore', divide='ignore'):
        j = inters / union
    if j.ndim == 0:
        j = 1 if np.isclose(union, 0) else j
    else:
        j[np.isclose(union, 0)] = 1
    return j


def reference_seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map (D. Martin's ``seg2bmap`` as DAVIS uses it)."""
    seg = seg.astype(bool)
    seg[seg > 0] = 1
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def reference_f_measure(foreground_mask: np.ndarray, gt_mask: np.ndarray,
                        bound_th: float = 0.008) -> float:
    """Boundary F of one frame, exactly as davis2017-evaluation (no void pixels)."""
    import cv2
    from skimage.morphology import disk

    void_pixels = np.zeros_like(foreground_mask).astype(bool)
    bound_pix = bound_th if bound_th >= 1 else np.ceil(
        bound_th * np.linalg.norm(foreground_mask.shape))
    fg_boundary = reference_seg2bmap(foreground_mask * np.logical_not(void_pixels))
    gt_boundary = reference_seg2bmap(gt_mask * np.logical_not(void_pixels))
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_match = gt_boundary * fg_dil
    fg_match = fg_boundary * gt_dil
    n_fg = np.sum(fg_boundary)
    n_gt = np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = np.sum(fg_match) / float(n_fg)
        recall = np.sum(gt_match) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def reference_db_eval_boundary(annotation: np.ndarray, segmentation: np.ndarray,
                               bound_th: float = 0.008) -> np.ndarray:
    """F per frame of ``(T, H, W)`` masks, one :func:`reference_f_measure` per frame."""
    if annotation.ndim == 2:
        return np.array(reference_f_measure(segmentation, annotation, bound_th))
    return np.array([reference_f_measure(s, a, bound_th)
                     for a, s in zip(annotation, segmentation)])
