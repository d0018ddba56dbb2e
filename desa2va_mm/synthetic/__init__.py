"""Synthetic referring data: small, deterministic stand-ins for RefCOCO and MeViS.

A light package: it needs NumPy, OpenCV and pycocotools only (no torch, MMEngine, mmdet
or the rest of ``desa2va_mm``), so the dataset converters, the quickstart and tests
import it in well under a second. Layers, each importing only those above it:

* :mod:`.vocabulary`: shapes, colours, sizes and every word the generators can write
  (standard library only; the tiny tokenizer reads its word lists from here).
* :mod:`.shapes`: drawing primitives shared by images and videos.
* :mod:`.scenes` and :mod:`.expressions`: the image scene model and its expression
  grammar (render, parse, resolve, sample).
* :mod:`.images`: one rendered image with its refs (:func:`generate_image`).
* :mod:`.coco_io`: COCO RLE masks and compact JSON files.
* :mod:`.refcoco_writer` / :mod:`.refcoco_reader`: the RefCOCO-layout dataset.
* :mod:`.gcg_writer`: grounded captions (GCG) over the same pictures, GranD-f layout.
* :mod:`.heldout`: the RefCOCO-layout set with a split of words and colour + shape
  combinations never trained on.
* :mod:`.video_expressions`, :mod:`.videos`, :mod:`.mevis_writer`: the MeViS-layout
  video dataset; :mod:`.motion_pairs`: its ``motion_pairs`` layout (objects alike in
  appearance told apart by motion); :mod:`.sav_writer`: the same videos in SA-V's layout.
* :mod:`.osprey_writer`: region prompts (visual prompts) over the same pictures, in
  Osprey-724K's layout.
"""
from .coco_io import decode_segmentation, encode_rle, write_json
from .expressions import (Program, enumerate_expressions, expression_kind, is_unambiguous,
                          parse_expression, render_expression, resolve_expression,
                          sample_referring_expressions, surface_forms)
from .gcg_writer import (GCG_IMG_DIR, GCG_TRAIN_FILE, GCG_VAL_CAPTION_FILE,
                         GCG_VAL_MASK_FILE, make_synthetic_gcg)
from .heldout import (HELDOUT_COMBINATIONS, HELDOUT_FILE, HELDOUT_SPLITS, HELDOUT_WORDS,
                      heldout_items, make_heldout_refcoco)
from .images import SyntheticImage, generate_image
from .mevis_writer import (DEFAULT_VIDEO_SPLITS, SIDECAR_FILE, VIDEO_LAYOUTS,
                           make_synthetic_mevis)
from .motion_pairs import MOTION_PAIR_ROLES, generate_motion_pair_video
from .refcoco_reader import compute_split_stats, load_scenes
from .refcoco_writer import (ANN_FILE, DEFAULT_SPLIT_FRACTIONS, IMG_DIR, SCENES_FILE,
                             SPLIT_FILE, make_synthetic_refcoco)
from .sav_writer import (SAV_EXPRESSION_FILE, SAV_VIDEO_DIR, make_synthetic_sav,
                         sav_video_id)
from .scenes import Scene, SceneObject
from .video_expressions import (needs_motion, pick_video_expressions,
                                render_video_expression, resolve_video_expression)
from .videos import SyntheticVideo, VideoObject, generate_video
from .vocabulary import (COLORS, DIRECTIONS, MEVIS_VOCABULARY, MOTIONS, REFCOCO_VOCABULARY,
                         SHAPES, SIZES)

__all__ = [
    'SHAPES', 'COLORS', 'SIZES', 'MOTIONS', 'DIRECTIONS', 'REFCOCO_VOCABULARY',
    'MEVIS_VOCABULARY', 'Scene', 'SceneObject', 'Program', 'surface_forms',
    'render_expression', 'parse_expression', 'expression_kind', 'resolve_expression',
    'is_unambiguous', 'enumerate_expressions', 'sample_referring_expressions',
    'SyntheticImage', 'generate_image', 'encode_rle', 'decode_segmentation', 'write_json',
    'DEFAULT_SPLIT_FRACTIONS', 'IMG_DIR', 'ANN_FILE', 'SPLIT_FILE', 'SCENES_FILE',
    'make_synthetic_refcoco', 'load_scenes', 'compute_split_stats',
    'render_video_expression', 'resolve_video_expression', 'pick_video_expressions',
    'needs_motion', 'VideoObject', 'SyntheticVideo', 'generate_video',
    'DEFAULT_VIDEO_SPLITS', 'SIDECAR_FILE', 'VIDEO_LAYOUTS', 'make_synthetic_mevis',
    'MOTION_PAIR_ROLES', 'generate_motion_pair_video', 'HELDOUT_WORDS',
    'HELDOUT_COMBINATIONS', 'HELDOUT_SPLITS', 'HELDOUT_FILE', 'heldout_items',
    'make_heldout_refcoco', 'GCG_IMG_DIR', 'GCG_TRAIN_FILE', 'GCG_VAL_CAPTION_FILE',
    'GCG_VAL_MASK_FILE', 'make_synthetic_gcg', 'SAV_EXPRESSION_FILE', 'SAV_VIDEO_DIR',
    'make_synthetic_sav', 'sav_video_id'
]
from .osprey_writer import (OSPREY_FILES, OSPREY_IMG_DIR, OSPREY_VAL_FILE,  # noqa: E402
                            OSPREY_WORDS, make_synthetic_osprey, region_answer)

__all__ += ['OSPREY_FILES', 'OSPREY_IMG_DIR', 'OSPREY_VAL_FILE', 'OSPREY_WORDS',
            'make_synthetic_osprey', 'region_answer']
