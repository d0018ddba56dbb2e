from .referring_seg_visualizer import ReferringSegVisualizer, overlay_mask

__all__ = ['ReferringSegVisualizer', 'overlay_mask']
