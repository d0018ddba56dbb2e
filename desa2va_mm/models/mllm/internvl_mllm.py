"""InternVL multimodal LLM wrapper (native ``transformers`` implementation)."""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS
from desa2va_mm.tokenization import IMG_CONTEXT_TOKEN, SEG_TOKEN, build_tokenizer
from desa2va_mm.tokenization.chat_templates import get_chat_template
from .stop_words import StopWords
from .pretrained_checks import (check_config_agrees, check_pretrained_folder,
                                check_vocabulary, infer_chat_template,
                                tokenizer_for_pretrained)

#: LoRA targets: every linear layer of the language model but the LM head. The regex is
#: anchored on ``language_model`` because the vision tower also has q/k/v projections.
DEFAULT_LORA_TARGETS = (r'.*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|'
                        r'up_proj|down_proj|wqkv|wo|w1|w2|w3)$')


@MODELS.register_module()
class InternVLMLLM(BaseModule):
    """InternVL (``InternVLForConditionalGeneration``) that reads images and emits ``[SEG]``.

    The model is built either from a local pretrained folder (``*-hf`` layout) or, with
    ``pretrained=None``, from ``model_config`` with random weights. The grounding tokens
    (``[SEG]`` ...) are added to the tokenizer and the embedding / LM-head rows resized.

    ``pretrained`` is the one setting of the InternVL weights: the tokenizer follows it
    (an ``InternVLTokenizer`` with ``path=None`` loads the folder's), and the data
    pipelines take the model's tokenizer and chat template (``ModelTokenizerHook``).
    Misconfigurations stop with an error naming the key to set: an original-layout
    (unconverted) folder, pretrained weights with a stand-in tokenizer, a tokenizer whose
    vocabulary the weights do not have, or ``model_config`` values that contradict the
    folder's ``config.json``.

    Args:
        tokenizer: Tokenizer config for :data:`~desa2va_mm.registry.TOKENIZERS`.
        model_config: Keyword arguments of ``transformers.InternVLConfig`` (``vision_config``
            and ``text_config`` dicts); used when ``pretrained`` is None, and to override
            fields of a pretrained config otherwise. ``vocab_size`` and ``image_token_id``
            are filled from the tokenizer.
        pretrained: Local folder of a native InternVL checkpoint, or None.
        freeze_vision: Freeze the vision tower (Sa2VA: frozen).
        freeze_projector: Freeze the multimodal projector (Sa2VA: trained).
        freeze_llm: Freeze the language model body (Sa2VA: frozen, trained through LoRA).
        train_embeddings: Train the input embeddings and LM head (Sa2VA trains them so the
            new tokens get rows; with a frozen LLM this re-enables just those two).
        lora: ``peft.LoraConfig`` keyword arguments, or None for no LoRA. ``target_modules``
            defaults to every LLM linear layer but the LM head.
        gradient_checkpointing: Recompute LLM and vision activations in backward.
        torch_dtype: dtype of the weights (``'float32'``, ``'bfloat16'`` ...).
        trust_remote_code: Allowed only for the tokenizer/config of user folders that need
            it; off by default so a checkpoint cannot run code.
        chat_template: Chat template of the LLM (``'qwen2'``, ``'internlm2'``); None infers
            it from the text model (Qwen2 -> ``'qwen2'``; InternLM2, hosted as Llama ->
            ``'internlm2'``). The data pipelines take it from the model.
        share_prompt_prefix: :meth:`generate` runs a prompt prefix shared by several
            sequences (same template and image: the sentences of one image) once and
            reuses its KV cache (``shared_prefix_generation.py``); False uses Hugging Face
            ``generate`` on every full prompt (needed for its sampling / penalties).
        init_cfg: MMEngine init config (unused: weights come from the checkpoint or from
            transformers' own initialisation).
    """

    def __init__(self,
                 *,
                 tokenizer: dict,
                 model_config: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 freeze_vision: bool = True,
                 freeze_projector: bool = False,
                 freeze_llm: bool = True,
                 train_embeddings: bool = True,
                 lora: Optional[dict] = None,
                 gradient_checkpointing: bool = False,
                 torch_dtype: str = 'float32',
                 trust_remote_code: bool = False,
                 share_prompt_prefix: bool = True,
                 chat_template: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        from transformers import InternVLConfig, InternVLForConditionalGeneration

        self.pretrained = pretrained
        if pretrained is not None:
            check_pretrained_folder(pretrained)
            tokenizer = tokenizer_for_pretrained(tokenizer, pretrained)
        elif isinstance(tokenizer, dict) and tokenizer.get('type') == 'InternVLTokenizer' \
                and tokenizer.get('path') is None:
            print_log('InternVLMLLM: model.mllm.pretrained is None: random InternVL weights '
                      'and an offline stand-in tokenizer (real words become [UNK]). Fine for '
                      'shape checks and smoke runs; to train or test, set '
                      'model.mllm.pretrained to a native InternVL folder '
                      '(docs/real_weights.md).', logger='current', level=logging.WARNING)
        self.tokenizer = build_tokenizer(tokenizer)
        dtype = getattr(torch, torch_dtype)
        model_config = copy.deepcopy(dict(model_config or {}))
        if pretrained is not None:
            from transformers import AutoConfig
            config = AutoConfig.from_pretrained(pretrained, trust_remote_code=False)
            check_config_agrees(config, model_config, pretrained)
            model = InternVLForConditionalGeneration.from_pretrained(
                pretrained, dtype=dtype, trust_remote_code=trust_remote_code, config=config)
            check_vocabulary(self.tokenizer, model, pretrained)
        else:
            text_config = dict(model_config.pop('text_config', {}))
            text_config.setdefault('model_type', 'qwen2')
            text_config['vocab_size'] = len(self.tokenizer)
            text_config.setdefault('pad_token_id', self.tokenizer.pad_token_id)
            model_config['image_token_id'] = self.tokenizer.convert_tokens_to_ids(
                IMG_CONTEXT_TOKEN)
            config = InternVLConfig(text_config=text_config, **model_config)
            model = InternVLForConditionalGeneration(config).to(dtype)
        self.model = model
        self._resize_token_embeddings()
        self.config = self.model.config
        self.chat_template = chat_template or infer_chat_template(self.config)
        # Weights come from the checkpoint (or transformers' init); MMEngine must not touch them.
        self.model._is_init = True

        self.share_prompt_prefix = share_prompt_prefix
        self.use_lora = lora is not None
        if lora is not None:
            self._apply_lora(lora)
        # After LoRA: peft marks only adapters trainable; our flags decide the rest.
        self._set_trainable(freeze_vision, freeze_projector, freeze_llm, train_embeddings)
        if gradient_checkpointing:
            self.hf_model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={'use_reentrant': False})
            # LoRA on a frozen base: the checkpointed blocks need an input that requires grad.
            self.hf_model.enable_input_require_grads()

    # ------------------------------------------------------------------ construction
    def _resize_token_embeddings(self) -> None:
        embed = self.model.get_input_embeddings()
        if embed.num_embeddings < len(self.tokenizer):
            self.model.resize_token_embeddings(len(self.tokenizer))
        img_id = self.tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
        if self.model.config.image_token_id != img_id:
            self.model.config.image_token_id = img_id

    def _set_trainable(self, freeze_vision: bool, freeze_projector: bool, freeze_llm: bool,
                       train_embeddings: bool) -> None:
        inner = self.model.model
        inner.vision_tower.requires_grad_(not freeze_vision)
        inner.multi_modal_projector.requires_grad_(not freeze_projector)
        inner.language_model.requires_grad_(not freeze_llm)
        self.model.lm_head.requires_grad_(not freeze_llm)
        if train_embeddings:
            self.model.get_input_embeddings().requires_grad_(True)
            self.model.get_output_embeddings().requires_grad_(True)
        for name, param in self.model.named_parameters():
            if 'lora_' in name:
                param.requires_grad_(True)

    def _apply_lora(self, lora: dict) -> None:
        from peft import LoraConfig, inject_adapter_in_model
        lora = dict(lora)
        lora.setdefault('target_modules', DEFAULT_LORA_TARGETS)
        lora.setdefault('task_type', None)
        lora.pop('type', None)
        lora_config = LoraConfig(**lora)
        # Inject in place: module paths (and our state-dict keys) stay those of the HF
        # model plus ``lora_A`` / ``lora_B``; embeddings / LM head keep their own flags.
        inject_adapter_in_model(lora_config, self.model)
        self.lora_config = lora_config

    # ------------------------------------------------------------------ properties
    @property
    def hf_model(self) -> nn.Module:
        return self.model

    @property
    def hidden_size(self) -> int:
        return self.config.text_config.hidden_size

    @property
    def seg_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(SEG_TOKEN)

    @property
    def image_token_id(self) -> int:
        return self.config.image_token_id

    @property
    def vp_start_id(self) -> int:
        """Id of ``<vp>``, which opens a region prompt's tokens (docs/visual_prompts.md)."""
        return self.tokenizer.convert_tokens_to_ids('<vp>')

    @property
    def vp_end_id(self) -> int:
        """Id of ``</vp>``."""
        return self.tokenizer.convert_tokens_to_ids('</vp>')

    @property
    def num_image_tokens_per_tile(self) -> int:
        vision = self.config.vision_config
        patches = (vision.image_size[0] // vision.patch_size[0]) * (
            vision.image_size[1] // vision.patch_size[1])
        return int(patches * self.config.downsample_ratio**2)

    def input_embeddings(self) -> nn.Embedding:
        """The (frozen or trained) LLM input-embedding table ``E``."""
        return self.model.get_input_embeddings()

    # ------------------------------------------------------------------ forward
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Encode image tiles into LLM image tokens.

        Args:
            pixel_values: (T, 3, s, s) normalised tiles.

        Returns:
            (T, n, H) image-token embeddings, n = ``num_image_tokens_per_tile``.
        """
        out = self.model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
        return out.pooler_output

    def embed(self, input_ids: torch.Tensor, image_embeds: Optional[torch.Tensor]) -> torch.Tensor:
        """Token embeddings with image features scattered into ``<IMG_CONTEXT>`` slots.

        Args:
            input_ids: (B, L) token ids.
            image_embeds: (K, H) image-token features in the order the ``<IMG_CONTEXT>``
                tokens appear in ``input_ids`` (row-major), or None.

        Returns:
            (B, L, H) input embeddings.
        """
        embeds = self.model.get_input_embeddings()(input_ids)
        slots = input_ids == self.image_token_id
        num_slots = int(slots.sum())
        if image_embeds is None:
            if num_slots:
                raise ValueError(f'{num_slots} <IMG_CONTEXT> tokens but no image features')
            return embeds
        image_embeds = image_embeds.reshape(-1, embeds.shape[-1])
        if num_slots != image_embeds.shape[0]:
            raise ValueError(
                f'Image tokens and features do not match: {num_slots} <IMG_CONTEXT> tokens '
                f'in the prompt, {image_embeds.shape[0]} image features')
        return embeds.masked_scatter(slots.unsqueeze(-1), image_embeds.to(embeds.dtype))

    def forward(self,
                input_ids: torch.Tensor,
                attention_mask: torch.Tensor,
                image_embeds: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Teacher-forced forward.

        Args:
            input_ids: (B, L) token ids (right padded).
            attention_mask: (B, L) 1 for real tokens.
            image_embeds: (K, H) features for the ``<IMG_CONTEXT>`` slots (see :meth:`embed`).
            labels: (B, L) next-token targets aligned with ``input_ids`` (-100 = ignored);
                the shift happens here.

        Returns:
            dict with ``hidden_states`` (B, L, H) of the last layer and, with labels,
            ``loss_lm`` (mean token cross-entropy over supervised tokens).
        """
        inputs_embeds = self.embed(input_ids, image_embeds)
        lm_out = self.model.model.language_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False)
        hidden = lm_out.last_hidden_state
        result = {'hidden_states': hidden}
        if labels is not None:
            logits = self.model.lm_head(hidden[:, :-1])
            targets = labels[:, 1:]
            num_valid = (targets != -100).sum()
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                ignore_index=-100, reduction='sum')
            result['loss_lm'] = loss / num_valid.clamp(min=1)
        return result

    @torch.no_grad()
    def generate(self,
                 input_ids: torch.Tensor,
                 attention_mask: torch.Tensor,
                 image_embeds: Optional[torch.Tensor] = None,
                 max_new_tokens: int = 16,
                 **generate_kwargs) -> Tuple[List[List[int]], List[torch.Tensor]]:
        """Greedy-generate answers and collect the last-layer state of each ``[SEG]``.

        Args:
            input_ids: (B, L) prompts, **left** padded.
            attention_mask: (B, L).
            image_embeds: (K, H) features for the ``<IMG_CONTEXT>`` slots.
            max_new_tokens: Generation budget per prompt.

        Returns:
            ``(answers, seg_hidden)``: the generated ids per prompt (up to and without EOS)
            and, per prompt, a (n_seg, H) tensor of hidden states at its ``[SEG]`` tokens,
            the same state training supervises (the token's position as an input).
        """
        inputs_embeds = self.embed(input_ids, image_embeds)
        if self.share_prompt_prefix and not generate_kwargs:
            from .shared_prefix_generation import generate_shared_prefix
            return generate_shared_prefix(self, inputs_embeds, input_ids, attention_mask,
                                          max_new_tokens)
        eos_id = self.tokenizer.eos_token_id
        stop = self.stop_words()
        criterion = stop.criterion()
        if criterion is not None:
            generate_kwargs.setdefault('stopping_criteria', []).append(criterion)
        out = self.model.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos_id,
            pad_token_id=self.tokenizer.pad_token_id,
            output_hidden_states=True,
            return_dict_in_generate=True,
            **generate_kwargs)
        sequences = out.sequences  # (B, n_new): only new tokens with inputs_embeds
        # hidden_states[k][-1]: last layer at step k; step 0 is the prompt, step k>=1 holds
        # the state of generated token k-1 (fed back as input).
        steps = [h[-1][:, -1] for h in out.hidden_states[1:]]
        answers, seg_hidden = [], []
        seg_id = self.seg_token_id
        final_states = None
        for b in range(sequences.shape[0]):
            ids = sequences[b].tolist()
            end = stop.cut(ids)
            if end is not None:
                ids = ids[:end]
            ids = [t for t in ids if t != self.tokenizer.pad_token_id]
            states = []
            for j, tok in enumerate(ids):
                if tok != seg_id:
                    continue
                if j < len(steps):
                    states.append(steps[j][b])
                else:
                    # [SEG] was the last token generated: its state needs one more step.
                    if final_states is None:
                        final_states = self._last_token_states(sequences, attention_mask,
                                                               inputs_embeds)
                    states.append(final_states[b])
            answers.append(ids)
            seg_hidden.append(torch.stack(states) if states else
                              inputs_embeds.new_zeros(0, self.hidden_size))
        return answers, seg_hidden

    def stop_words(self) -> StopWords:
        """Where an answer ends: EOS or the chat template's stop words."""
        return StopWords(self.tokenizer, get_chat_template(self.chat_template).stop_words,
                         self.tokenizer.eos_token_id)

    def _last_token_states(self, sequences, attention_mask, inputs_embeds):
        # Re-run prompt + answer once; only hit when generation stopped right after [SEG].
        new_embeds = self.model.get_input_embeddings()(sequences)
        full = torch.cat([inputs_embeds, new_embeds], dim=1)
        mask = torch.cat([attention_mask, torch.ones_like(sequences)], dim=1)
        hidden = self.model.model.language_model(
            inputs_embeds=full, attention_mask=mask, use_cache=False).last_hidden_state
        return hidden[:, -1]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)
