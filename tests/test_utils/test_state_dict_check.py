"""A checkpoint with a missing or mis-shaped key fails, naming the key and both shapes."""
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT
from desa2va_mm.utils.state_dict_check import (StateDictMismatchError, check_state_dict,
                                               compare_state_dicts)


def test_compare_and_check_name_every_bad_key():
    model = {'a.weight': torch.zeros(2, 3), 'b.bias': torch.zeros(4), 'c': torch.zeros(1)}
    given = {'a.weight': torch.zeros(3, 2), 'b.bias': torch.zeros(4), 'd': torch.zeros(1)}
    missing, unexpected, mismatched = compare_state_dicts(model, given)
    assert (missing, unexpected) == (['c'], ['d'])
    assert mismatched == ['a.weight: checkpoint (3, 2) vs model (2, 3)']
    with pytest.raises(StateDictMismatchError) as err:
        check_state_dict(model, given, source='ckpt.pth')
    text = str(err.value)
    assert 'ckpt.pth' in text and 'a.weight: checkpoint (3, 2) vs model (2, 3)' in text
    assert 'missing keys (1):\n    c' in text and 'unexpected keys (1):\n    d' in text
    # Allowed prefixes are returned, not raised.
    ok = {'a.weight': torch.zeros(2, 3), 'b.bias': torch.zeros(4), 'd': torch.zeros(1)}
    assert check_state_dict(model, ok, allowed_missing=['c'], allowed_unexpected=['d']) == \
        (['c'], ['d'])


def _tiny_model():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'))
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        return MODELS.build(cfg.model)


def test_model_load_fails_on_a_mis_shaped_key_even_non_strict(tmp_path):
    from mmengine.runner import load_checkpoint
    model = _tiny_model()
    state = model.state_dict()
    state['seg_head.text_hidden_fcs.mlp.2.weight'] = torch.zeros(7, 128)
    expected = (r'seg_head\.text_hidden_fcs\.mlp\.2\.weight: checkpoint \(7, 128\) vs model '
                r'\(64, 128\)')
    with pytest.raises(StateDictMismatchError, match=expected):
        model.load_state_dict(state, strict=False)
    # The same through MMEngine's load_from path (non-strict CheckpointLoader).
    path = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(StateDictMismatchError, match=expected):
        load_checkpoint(model, path, map_location='cpu', strict=False)


def test_model_load_strict_reports_the_missing_key():
    model = _tiny_model()
    state = model.state_dict()
    del state['seg_head.text_hidden_fcs.mlp.0.bias']
    with pytest.raises(RuntimeError, match=r'seg_head\.text_hidden_fcs\.mlp\.0\.bias'):
        model.load_state_dict(state, strict=True)


def test_token_tables_from_a_smaller_vocabulary_fill_the_first_rows():
    """A checkpoint made before the tokenizer appended words (synthetic_refcoco ->
    synthetic_mevis) loads: old rows copied, new rows keep their init; any other growth
    or shrink is still an error."""
    model = _tiny_model()
    state = model.state_dict()
    keys = [k for k in state if k.endswith(('embed_tokens.weight', 'lm_head.weight'))]
    assert len(keys) == 2  # untied embedding and LM head
    before = {k: state[k].clone() for k in keys}
    small = dict(state)
    for k in keys:
        small[k] = torch.randn(state[k].shape[0] - 3, state[k].shape[1])
    model.load_state_dict(small, strict=True)
    after = model.state_dict()
    for k in keys:
        n = small[k].shape[0]
        assert torch.equal(after[k][:n], small[k])
        assert torch.equal(after[k][n:], before[k][n:])
    # More rows than the model, or another width: still refused.
    for bad in (torch.zeros(state[keys[0]].shape[0] + 1, state[keys[0]].shape[1]),
                torch.zeros(state[keys[0]].shape[0] - 1, state[keys[0]].shape[1] + 1)):
        with pytest.raises(StateDictMismatchError, match=keys[0].replace('.', r'\.')):
            model.load_state_dict({**state, keys[0]: bad}, strict=False)
