# DeSa2VA-4B, phase 1 (text pre-training, docs/method.md §11): only W_e (neck.anchor_proj) and the
# text decoder D_t train, on L_seg(D_t(F, [pad; e]), G) with e = W_e · mean E[x] of the
# ground-truth expression (no LLM forward beyond the embedding lookup). Everything else,
# including the MLLM's LoRA, is frozen.
#   bash tools/dist_train.sh configs/desa2va/desa2va_4b_pretrain.py 8
_base_ = ['../_base_/models/desa2va_4b.py', '../_base_/real_size_training.py']

model = dict(
    train_phase='pretrain',
    frozen_modules=['mllm', 'seg_head.neck.text_proj', 'seg_head.neck.visual_proj',
                    'seg_head.visual_head', 'seg_head.fusion', 'seg_head.adversarial_loss',
                    'seg_head.club_loss'])
# The text anchor needs a ground-truth expression: referring images only (RefCOCO/+/g of
# the Sa2VA mix), no QA or video samples. Only the mix inside real_size_training.py's
# SkipBadSamples wrapper is replaced: the data-fault guards (bad samples, loader timeout)
# stay.
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='ConcatDataset',
            datasets=[{{_base_.refcoco_train}}, {{_base_.refcoco_plus_train}},
                      {{_base_.refcocog_train}}])))
