"""Builders for video predictions in the contract's form (shared by the metric tests)."""
import numpy as np
import pycocotools.mask as mask_utils


def rle(mask):
    """COCO RLE (str counts) of a 2-D mask; None stays None (= empty frame)."""
    if mask is None:
        return None
    out = mask_utils.encode(np.asfortranarray(np.asarray(mask, np.uint8)))
    out['counts'] = out['counts'].decode()
    return out


def video(video_id, preds, gts=None, exp_ids=None, type_ids=None, **extra):
    """preds / gts: E lists of T (H, W) masks (gts may hold None)."""
    num_frames = len(preds[0])
    shape = np.asarray(preds[0][0]).shape
    sample = dict(video_id=video_id,
                  exp_ids=exp_ids or [str(i) for i in range(len(preds))],
                  frame_names=[f'{t:05d}' for t in range(num_frames)],
                  ori_shape=shape,
                  pred_rles=[[rle(m) for m in frames] for frames in preds])
    if gts is not None:
        sample['gt_rles'] = [[rle(m) for m in frames] for frames in gts]
    if type_ids is not None:
        sample['type_ids'] = type_ids
    sample.update(extra)
    return sample


def dot(h, w, y, x):
    m = np.zeros((h, w), bool)
    m[y, x] = True
    return m
