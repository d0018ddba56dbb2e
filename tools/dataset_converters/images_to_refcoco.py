"""Turn your own images + object masks + expressions into the RefCOCO layout.

Input: an index JSON (a list of objects), each naming an image, one binary mask of the
referred object (PNG; any non-zero pixel is the object) and its expressions::

    [{"image": "kitchen_01.jpg", "mask": "kitchen_01/mug.png",
      "expressions": ["the red mug", "mug left of the kettle"], "split": "train"}, ...]

``split`` defaults to ``train``. Output, loadable by ``RefCocoReferringDataset`` (and mmdet's
``RefCocoDataset``) with ``data_root=OUT``, ``ann_file='refcoco/instances.json'``,
``split_file='refcoco/refs(unc).p'``, ``data_prefix=dict(img_path='images/')``::

    OUT/images/<image>              (copied)
    OUT/refcoco/instances.json      (COCO: images, one annotation per mask as compressed RLE)
    OUT/refcoco/refs(unc).p         (refer API: one ref per object, its sentences, split)

Example::

    python tools/dataset_converters/images_to_refcoco.py --index my_data/index.json \\
        --images my_data/images --masks my_data/masks --out data/my_refcoco

Every problem names the entry: a missing image or mask, a mask whose size differs from its
image, an empty mask, an entry without expressions.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import shutil
import sys


def convert(index_file: str, image_dir: str, mask_dir: str, out_dir: str) -> dict:
    """Write the RefCOCO layout; returns counts per split."""
    import cv2
    import numpy as np

    from desa2va_mm.structures import encode_mask, rle_area, rle_bbox
    entries = json.load(open(index_file, encoding='utf-8'))
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{index_file}: expected a non-empty JSON list of objects')
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'refcoco'), exist_ok=True)
    images, annotations, refs = {}, [], []
    counts: dict = {}
    for i, entry in enumerate(entries):
        where = f'{index_file}: entry {i} ({entry.get("image")!r}, {entry.get("mask")!r})'
        exprs = [str(e).strip() for e in entry.get('expressions') or [] if str(e).strip()]
        if not exprs:
            raise ValueError(f'{where}: no expression')
        img_src = osp.join(image_dir, entry['image'])
        if entry['image'] not in images:
            img = cv2.imread(img_src)
            if img is None:
                raise FileNotFoundError(f'{where}: cannot read image {img_src}')
            dst = osp.join(out_dir, 'images', entry['image'])
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copyfile(img_src, dst)
            images[entry['image']] = dict(id=len(images) + 1, file_name=entry['image'],
                                          height=img.shape[0], width=img.shape[1])
        image = images[entry['image']]
        mask_src = osp.join(mask_dir, entry['mask'])
        mask = cv2.imread(mask_src, cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise FileNotFoundError(f'{where}: cannot read mask {mask_src}')
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        if mask.shape != (image['height'], image['width']):
            raise ValueError(f'{where}: mask of size {list(mask.shape)} on an image of size '
                             f"{[image['height'], image['width']]}")
        mask = (mask > 0).astype(np.uint8)
        if not mask.any():
            raise ValueError(f'{where}: the mask is empty')
        rle = encode_mask(mask)
        ann_id = len(annotations) + 1
        annotations.append(dict(
            id=ann_id, image_id=image['id'], category_id=1, iscrowd=0,
            area=float(rle_area(rle)), bbox=rle_bbox(rle), segmentation=rle))
        split = entry.get('split', 'train')
        counts[split] = counts.get(split, 0) + 1
        sent_base = sum(len(r['sentences']) for r in refs)
        refs.append(dict(
            ref_id=len(refs), ann_id=ann_id, image_id=image['id'], category_id=1,
            split=split, file_name=entry['image'],
            sent_ids=[sent_base + k for k in range(len(exprs))],
            sentences=[dict(sent_id=sent_base + k, raw=e, sent=e.lower(),
                            tokens=e.lower().split()) for k, e in enumerate(exprs)]))
    with open(osp.join(out_dir, 'refcoco', 'instances.json'), 'w') as f:
        json.dump(dict(images=list(images.values()), annotations=annotations,
                       categories=[dict(id=1, name='object')]), f)
    with open(osp.join(out_dir, 'refcoco', 'refs(unc).p'), 'wb') as f:
        pickle.dump(refs, f, protocol=2)  # plain data only: the safe loader reads it
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Images + object masks + expressions -> RefCOCO layout')
    parser.add_argument('--index', required=True, help='JSON list of objects (see --help)')
    parser.add_argument('--images', required=True, help='folder the "image" paths start from')
    parser.add_argument('--masks', required=True, help='folder the "mask" paths start from')
    parser.add_argument('--out', required=True, help='output dataset root')
    args = parser.parse_args(argv)
    try:
        counts = convert(args.index, args.images, args.masks, args.out)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    print(f'wrote {args.out}: ' + ', '.join(f'{k}={v} objects' for k, v in sorted(
        counts.items())))


if __name__ == '__main__':
    main()
