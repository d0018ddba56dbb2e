"""Generate the bad-weights part of the bad-input corpus (``tests/test_utils/test_bad_weights.py``).

Mis-set weights are the costliest bad input of a real-size run: a job that silently trains
on random InternVL weights or a word-level stand-in tokenizer wastes GPU days. This writes
tiny stand-ins in the real formats (about 5 MB, a few seconds)::

    OUT/internvl_hf/            a native InternVL folder (config.json, safetensors, a fast
                                tokenizer) built from the tiny config's dimensions
    OUT/internvl_original/      an original-layout folder (InternVLChatModel config.json)
    OUT/no_config/              a folder with weights but no config.json
    OUT/weights_file.bin        a file where a folder is expected
    OUT/tokenizer_extra/        the folder's tokenizer + 2 tokens the weights have no rows for
    OUT/internvl_hf_img_id/     the native folder with another ``image_token_id``
    OUT/sam2_tiny.pt            ``{'model': state_dict}`` of the tiny SAM-2 (sam2's format)
    OUT/trainable_only.pth      a trainable-only checkpoint of a run that had both sources
                                (frozen InternVL body and SAM-2 encoder left out)

Nothing here is committed; the test fixture regenerates it in a temporary folder
(``python tests/data/make_bad_weights.py OUT`` does the same by hand).
"""
import argparse
import copy
import json
import os
import os.path as osp
import shutil

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tiny_model_cfg(internvl=None, sam2=None):
    """The tiny Sa2VA with a frozen InternVL body and SAM-2 encoder (as at real size)."""
    from mmengine.config import Config
    cfg = copy.deepcopy(Config.fromfile(osp.join(REPO, 'configs/sa2va/sa2va_tiny.py')).model)
    cfg.mllm.update(freeze_vision=True, freeze_llm=True, pretrained=internvl)
    if internvl is not None:
        cfg.mllm.model_config = None
        cfg.mllm.tokenizer = dict(type='InternVLTokenizer', path=None)
    cfg.grounding_encoder.update(freeze_image_encoder=True, checkpoint=sam2)
    return cfg


def build(cfg):
    import torch
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    return MODELS.build(cfg)


def make_bad_weights(out: str) -> dict:
    """Write the corpus into ``out``; returns name -> path."""
    import torch

    from desa2va_mm.engine.hooks import TrainableCheckpointHook
    os.makedirs(out, exist_ok=True)
    paths = {}
    model = build(tiny_model_cfg())
    native = osp.join(out, 'internvl_hf')
    model.mllm.model.save_pretrained(native)
    model.mllm.tokenizer.save_pretrained(native)
    paths['internvl_hf'] = native

    original = osp.join(out, 'internvl_original')
    os.makedirs(original, exist_ok=True)
    with open(osp.join(original, 'config.json'), 'w') as f:
        json.dump(dict(architectures=['InternVLChatModel'], model_type='internvl_chat',
                       auto_map={'AutoModel': 'modeling_internvl_chat.InternVLChatModel'},
                       llm_config=dict(architectures=['Qwen2ForCausalLM']),
                       vision_config=dict(architectures=['InternVisionModel'])), f)
    paths['internvl_original'] = original

    no_config = osp.join(out, 'no_config')
    os.makedirs(no_config, exist_ok=True)
    shutil.copy(osp.join(native, 'model.safetensors'), no_config)
    paths['no_config'] = no_config
    weights_file = osp.join(out, 'weights_file.bin')
    shutil.copy(osp.join(native, 'model.safetensors'), weights_file)
    paths['weights_file'] = weights_file

    extra = copy.deepcopy(model.mllm.tokenizer)
    extra.add_tokens(['<extra_token_a>', '<extra_token_b>'])
    extra.save_pretrained(osp.join(out, 'tokenizer_extra'))
    paths['tokenizer_extra'] = osp.join(out, 'tokenizer_extra')

    img_id = osp.join(out, 'internvl_hf_img_id')
    shutil.copytree(native, img_id, dirs_exist_ok=True)
    with open(osp.join(img_id, 'config.json')) as f:
        config = json.load(f)
    config['image_token_id'] = 3  # not <IMG_CONTEXT> in this tokenizer
    with open(osp.join(img_id, 'config.json'), 'w') as f:
        json.dump(config, f)
    paths['internvl_hf_img_id'] = img_id

    sam2 = osp.join(out, 'sam2_tiny.pt')
    torch.save({'model': model.grounding_encoder.sam2.state_dict()}, sam2)
    paths['sam2_tiny'] = sam2

    trained = build(tiny_model_cfg(internvl=native, sam2=sam2))
    checkpoint = dict(state_dict=trained.state_dict(), meta={})

    class _Runner:
        def __init__(self, m):
            self.model = m

    TrainableCheckpointHook().before_save_checkpoint(_Runner(trained), checkpoint)
    torch.save(checkpoint, osp.join(out, 'trainable_only.pth'))
    paths['trainable_only'] = osp.join(out, 'trainable_only.pth')
    with open(osp.join(out, 'manifest.json'), 'w') as f:
        json.dump(paths, f, indent=1)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', nargs='?', default=osp.join(REPO, 'tests/data/bad_weights'),
                        help='output folder (default: the git-ignored tests/data/bad_weights)')
    paths = make_bad_weights(parser.parse_args().out)
    print(f'wrote {len(paths)} bad-weights inputs')


if __name__ == '__main__':
    main()
