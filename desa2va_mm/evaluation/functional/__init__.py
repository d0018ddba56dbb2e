"""Pure functions behind the metrics: fast DAVIS J / F, RLE utilities, submission PNGs,
mutual-information estimates."""
from .cider import cider_d, simple_tokenize
from .gcg import (exact_phrase_similarity, get_phrase_matcher, greedy_pairs,
                  grounded_matches, image_miou, mask_iou_matrix, parse_gcg_answer,
                  token_overlap_similarity)
from .jf import (boundary_radius, clip_scores, db_eval_boundary, db_eval_iou, f_measure,
                 frame_scores, jf_per_frame, seg2bmap)
from .mutual_information import (canonical_correlations, estimate_mutual_information,
                                 gaussian_mutual_information, ksg_mutual_information,
                                 pca_reduce)
from .video_predictions import (decode_frame, get_meta, iter_expressions, iter_frame_pairs,
                                rle_area, write_submission_pngs, zip_folder)

__all__ = [
    'boundary_radius', 'clip_scores', 'db_eval_boundary', 'db_eval_iou', 'f_measure',
    'frame_scores', 'jf_per_frame', 'seg2bmap', 'decode_frame', 'get_meta', 'iter_expressions',
    'iter_frame_pairs', 'rle_area', 'write_submission_pngs', 'zip_folder',
    'canonical_correlations', 'estimate_mutual_information', 'gaussian_mutual_information',
    'ksg_mutual_information', 'pca_reduce', 'cider_d', 'simple_tokenize',
    'exact_phrase_similarity', 'get_phrase_matcher', 'greedy_pairs', 'grounded_matches',
    'image_miou', 'mask_iou_matrix', 'parse_gcg_answer', 'token_overlap_similarity'
]
