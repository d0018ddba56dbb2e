"""One InternVL tile per video frame (the key frames the MLLM reads)."""
from typing import Sequence

from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from .internvl_tiling import IMAGENET_MEAN, IMAGENET_STD, InternVLTiling, normalize_tiles


@TRANSFORMS.register_module()
class VideoFrameTiling(BaseTransform):
    """Tile each of ``results['frames']`` as one InternVL tile (Sa2VA: one 448 tile per
    video frame), with :class:`InternVLTiling`'s resize and normalisation.

    Adds ``pixel_values`` (T, 3, tile_size, tile_size) and ``num_tiles`` = T, so
    :class:`TokenizeConversation` writes ``<img>`` + T x n ``<IMG_CONTEXT>`` + ``</img>``. Sets
    ``text`` to the sample's ``expressions`` when absent, the key
    :class:`BuildReferringConversation` reads.

    Args:
        tile_size: Tile side (448 for InternVL2.5, 112 in the tiny configs).
        mean: Per-channel RGB mean in [0, 1].
        std: Per-channel RGB std in [0, 1].
    """

    def __init__(self, tile_size: int = 448, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.tiling = InternVLTiling(tile_size=tile_size, min_tiles=1, max_tiles=1,
                                     use_thumbnail=False, mean=mean, std=std)

    def transform(self, results: dict) -> dict:
        frames = results.get('frames')
        if not frames:
            raise KeyError(f"video {results.get('video_id', '?')!r}: no 'frames' to tile; put "
                           f'LoadVideoFrames before VideoFrameTiling')
        # Every frame's tile normalised into one (T, 3, s, s) tensor (no per-frame tensors
        # concatenated afterwards).
        tiles = [tile for frame in frames for tile in self.tiling.tile_arrays(frame)]
        results['pixel_values'] = normalize_tiles(tiles, self.tiling.mean, self.tiling.std)
        results['num_tiles'] = len(tiles)
        if 'text' not in results and 'expressions' in results:
            results['text'] = list(results['expressions'])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(tile_size={self.tiling.tile_size})'
