# DeSa2VA's additions to a real-size Sa2VA model config (docs/method.md §2-10): [SEG] -> W_t / W_v
# (SegTokenDecoupler) -> text and visual SAM-2 decoders (both initialised from SAM-2's
# decoder), per-pixel fusion gate, adversarial (gradient reversal) and CLUB losses.
# desa2va_{1b,4b,8b,internvl3_*}.py merge it into their Sa2VA backbone:
#   _base_ = ['sa2va_1b.py', 'desa2va_real_size_heads.py']
#   model = {{_base_.desa2va_heads}}
desa2va_heads = dict(
    seg_head=dict(
        _delete_=True,
        type='DecoupledSegHead',
        neck=dict(type='SegTokenDecoupler'),
        # Multimask + best IoU, as Sa2VA decodes its [SEG] prompt.
        text_head=dict(type='SAM2TextHead', multimask_output=True),
        visual_head=dict(type='SAM2VisualHead', multimask_output=True),
        fusion=dict(type='MaskFusion', hidden_channels=16),
        # target='own': h_t is compared with text anchors, h_v with SAM-2 point
        # embeddings ('opposite' swaps them; docs/method.md §8).
        adversarial_loss=dict(type='ModalityAdversarialLoss', hidden_channels=256,
                              loss_weight=0.1, lambda_schedule='dann', target='own'),
        # q trains with its own Adam (5 updates per step on the detached pairs) before the
        # decoupler minimises the bound with q fixed; per-feature running standardisation
        # (scale-invariant, keeps each row's mean / scale visible); minimise max(I, 0)
        # (docs/method.md §9 and docs/results.md §7 have the measurements). Weight 1e-3,
        # as the tiny configs: at 0.1 the bound's gradient took over the global clip there
        # and training stopped learning.
        club_loss=dict(type='CLUBLoss', hidden_dim=256, estimator='auto', loss_weight=1e-3,
                       estimator_optimizer=dict(type='Adam', lr=1e-3), estimator_steps=5,
                       standardize='running', nonnegative=True),
        mask_loss_weights=dict(text=1.0, visual=1.0, fused=1.0, reprompt=1.0),
        num_point_samples=1,
        # Sa2VA's losses: BCE x2.0 + Dice x0.5 on 12544 importance-sampled points per
        # mask, every branch sampled on its own logits (docs/method.md §7).
        loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean',
                       loss_weight=2.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                       naive_dice=True, eps=1.0, loss_weight=0.5),
        mask_loss_sampler=dict(type='MaskPointSampler', num_points=12544,
                               oversample_ratio=3.0, importance_sample_ratio=0.75)),
    # Re-prompting (docs/method.md §6): none in training (phase 3 leaves: 1), once at
    # validation / test, every mask.
    train_cfg=dict(reprompt_iters=0),
    test_cfg=dict(reprompt_iters=1, reprompt_iou_threshold=None),
    # Video (docs/method.md §12): Sa2VA's video mode ([SEG] prompts the key frames only,
    # prompt-free propagation through SAM-2 memory, no -1024 overwrite), chosen on the tiny
    # video model (docs/results.md §4). The prompted mode: track_with_seg_prompt=True,
    # object_score_source='decoder'.
    video_tracker=dict(type='SAM2VideoTracker', track_with_seg_prompt=False,
                       object_score_source='none'),
    train_phase='decouple',
    frozen_modules=['seg_head.text_head', 'seg_head.neck.anchor_proj'])
