"""BaseSegHead is an interface: a head that leaves part of it out cannot be built."""
import pytest

from desa2va_mm.models.seg_heads.base_seg_head import BaseSegHead


def test_a_head_missing_part_of_the_interface_is_refused_at_construction():
    abstract = set(BaseSegHead.__abstractmethods__)
    assert abstract == {'sam2_heads', 'decode', 'tracking_prompt', 'tracking_head',
                        'mask_losses'}

    class NoDecode(BaseSegHead):
        def sam2_heads(self):
            return {}

        def tracking_prompt(self, seg_hidden):
            return seg_hidden

        @property
        def tracking_head(self):
            return None

        def mask_losses(self, result, gt):
            return {}

    with pytest.raises(TypeError, match='decode'):
        NoDecode(in_channels=8)
