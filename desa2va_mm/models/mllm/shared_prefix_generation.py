"""Greedy generation that computes a prompt prefix shared by several sequences once.

At test time every sentence of an image is one sequence whose prompt starts with the same
tokens: the chat template, ``<img>``, the image's ``num_tiles x 256`` ``<IMG_CONTEXT>``
features, ``</img>`` and the question's first words. Hugging Face ``generate`` runs the
whole prompt of every sequence through the LLM; here the longest common prefix of each
group of sequences (token ids *and* input embeddings equal, so the same image) is run once,
its key / value cache is repeated for the group's sequences, and only their different
suffixes and the answers are computed per sequence. Mathematically this is the same
computation as the full prompts (causal attention: the prefix never sees the suffix).
"""
import inspect
from typing import List, Tuple

import torch


def _common_prefix(a_ids: torch.Tensor, a_emb: torch.Tensor, b_ids: torch.Tensor,
                   b_emb: torch.Tensor) -> int:
    """Length of the longest prefix where ids and input embeddings both agree."""
    n = min(len(a_ids), len(b_ids))
    same = (a_ids[:n] == b_ids[:n]) & (a_emb[:n] == b_emb[:n]).all(-1)
    diff = (~same).nonzero()
    return int(diff[0, 0]) if len(diff) else n


def _groups(ids: List[torch.Tensor], embeds: List[torch.Tensor],
            image_token_id: int) -> List[Tuple[List[int], int]]:
    """Consecutive sequences that share their image: ``[(members, prefix_len), ...]``.

    A sequence joins the current group when its common prefix with the group's first
    sequence reaches past the first sequence's last image token (or is non-empty for
    text-only prompts). Each member keeps at least one suffix token.
    """
    groups: List[Tuple[List[int], int]] = []
    for i in range(len(ids)):
        if groups:
            members, prefix = groups[-1]
            first = members[0]
            image_pos = (ids[first] == image_token_id).nonzero()
            needed = int(image_pos[-1, 0]) + 1 if len(image_pos) else 1
            common = _common_prefix(ids[first], embeds[first], ids[i], embeds[i])
            if common >= needed:
                groups[-1] = (members + [i], min(prefix, common, len(ids[i]) - 1))
                continue
        groups.append(([i], len(ids[i]) - 1))
    return groups


def _prefill_group(run, embeds: List[torch.Tensor], members: List[int], prefix_len: int,
                   mask_dtype: torch.dtype):
    """Run one group's prompts: the shared prefix once, then the members' suffixes.

    Suffixes are left padded *between* the shared prefix and each suffix: the mask hides
    the pads and the positions skip them, so every token sees exactly its own prompt.

    Returns:
        ``(cache, mask, last, next_pos)``: the KV cache of the n members' prompts, their
        (n, P) attention mask, (n, H) last-layer states at the last prompt token and (n, 1)
        position of the first answer token.
    """
    n = len(members)
    first = embeds[members[0]]
    if n == 1:  # nothing to share: the whole prompt in one call
        states_out, cache = run(first[None])
        mask = torch.ones(1, len(first), dtype=mask_dtype, device=first.device)
        next_pos = torch.full((1, 1), len(first), dtype=torch.long, device=first.device)
        return cache, mask, states_out[:, -1], next_pos
    cache = None
    if prefix_len > 0:
        _, cache = run(first[None, :prefix_len])
        cache.batch_repeat_interleave(n)
    suffixes = [embeds[m][prefix_len:] for m in members]
    width = max(len(s) for s in suffixes)
    suffix = first.new_zeros(n, width, first.shape[-1])
    mask = torch.zeros(n, prefix_len + width, dtype=mask_dtype, device=first.device)
    mask[:, :prefix_len] = 1
    for j, s in enumerate(suffixes):
        suffix[j, width - len(s):] = s
        mask[j, prefix_len + width - len(s):] = 1
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    states_out, cache = run(suffix, cache, attention_mask=mask,
                            position_ids=positions[:, prefix_len:])
    return cache, mask, states_out[:, -1], positions[:, -1:] + 1


def _mergeable(cache, mask: torch.Tensor) -> bool:
    """Whether a group's cache holds every prompt position in each layer (a sliding-window
    layer may have dropped the oldest: such groups answer on their own)."""
    return all(getattr(layer, 'keys', None) is not None and
               layer.keys.shape[-2] == mask.shape[1] for layer in cache.layers)


def _merge_prompts(prompts, config):
    """One batch of the groups' prompts, for a single answer loop over every sequence.

    Each group's cache and mask are left padded to the longest prompt (zero keys and
    values under a zero mask: never attended; positions are explicit), then concatenated
    along the batch in group order.

    Args:
        prompts: :func:`_prefill_group` outputs.
        config: The language model's config (cache layer types: full or sliding window).

    Returns:
        ``(cache, mask, last, next_pos)`` as :func:`_prefill_group`, over all sequences.
    """
    from transformers import DynamicCache
    length = max(mask.shape[1] for _, mask, _, _ in prompts)

    def left_pad(t, dim):
        missing = length - t.shape[dim]
        if missing == 0:
            return t
        shape = list(t.shape)
        shape[dim] = missing
        return torch.cat([t.new_zeros(shape), t], dim=dim)

    layers = []
    for i in range(len(prompts[0][0].layers)):
        keys = torch.cat([left_pad(c.layers[i].keys, -2) for c, _, _, _ in prompts])
        values = torch.cat([left_pad(c.layers[i].values, -2) for c, _, _, _ in prompts])
        layers.append((keys, values))
    cache = DynamicCache(ddp_cache_data=layers, config=config)
    mask = torch.cat([left_pad(m, 1) for _, m, _, _ in prompts])
    last = torch.cat([l for _, _, l, _ in prompts])
    next_pos = torch.cat([p for _, _, _, p in prompts])
    return cache, mask, last, next_pos


@torch.no_grad()
def generate_shared_prefix(mllm,
                           inputs_embeds: torch.Tensor,
                           input_ids: torch.Tensor,
                           attention_mask: torch.Tensor,
                           max_new_tokens: int) -> Tuple[List[List[int]], List[torch.Tensor]]:
    """Greedy answers and ``[SEG]`` states, prompt prefixes computed once per group.

    Same contract as :meth:`InternVLMLLM.generate` (greedy, stops at EOS or a stop word of
    the chat template): the state of a ``[SEG]`` is the last-layer hidden state at its
    position when it is fed back as input. Each group (the sentences of one image) runs
    its prompts on its own; the answers of all groups are then generated in one batch (one
    LLM step per token for every image of the call, not one per image), unless a
    sliding-window layer dropped prompt positions (then group by group).

    Args:
        mllm: The ``InternVLMLLM``.
        inputs_embeds: (B, L, H) prompt embeddings (image features scattered in).
        input_ids: (B, L) left-padded prompt ids.
        attention_mask: (B, L).
        max_new_tokens: Generation budget per sequence.

    Returns:
        ``(answers, seg_hidden)``: generated ids per sequence (up to, without, EOS) and per
        sequence a (n_seg, H) tensor.
    """
    lm = mllm.model.model.language_model
    # transformers 5.x names the KV cache ``cache`` (``past_key_values`` before).
    cache_kw = 'cache' if 'cache' in inspect.signature(lm.forward).parameters \
        else 'past_key_values'

    def run(embeds, cache=None, **kwargs):
        out = lm(inputs_embeds=embeds, use_cache=True, **{cache_kw: cache}, **kwargs)
        return out.last_hidden_state, getattr(out, cache_kw)

    lm_head = mllm.model.lm_head
    embed_tokens = mllm.model.get_input_embeddings()
    tok = mllm.tokenizer
    pad_id, seg_id = tok.pad_token_id, mllm.seg_token_id
    stop = mllm.stop_words()
    valid = attention_mask.bool()
    ids = [input_ids[b][valid[b]] for b in range(len(input_ids))]
    embeds = [inputs_embeds[b][valid[b]] for b in range(len(input_ids))]

    # Groups are runs of consecutive sequences: in group order the batch keeps its order.
    prompts = [_prefill_group(run, embeds, members, prefix_len, attention_mask.dtype)
               for members, prefix_len in _groups(ids, embeds, mllm.image_token_id)]
    if len(prompts) > 1 and all(_mergeable(*prompt[:2]) for prompt in prompts):
        prompts = [_merge_prompts(prompts, lm.config)]
    stop_ids = torch.tensor(sorted(stop.single), device=inputs_embeds.device)

    def answer(cache, mask, last, next_pos):
        """Greedy steps for n sequences: ``((n, steps) ids, (n, steps', H) states)``, the
        state of step k that of token k fed back as input (none for a last token that
        needs no state). One host sync per step (stop? state needed?)."""
        n = len(last)
        picked, states = [], []
        done = torch.zeros(n, dtype=torch.bool, device=last.device)
        for step in range(max_new_tokens):
            token = lm_head(last).float().argmax(-1)
            token = torch.where(done, torch.full_like(token, pad_id), token)
            picked.append(token)
            wants_state = ((token == seg_id) & ~done).any()
            done = done | torch.isin(token, stop_ids)
            if stop.multi:  # a stop word of several tokens (phi3's <|end|> on Qwen2.5)
                tail = torch.stack(picked[-stop.window:], dim=1).tolist()
                done = done | torch.tensor([stop.ended(row) for row in tail],
                                           dtype=torch.bool, device=last.device)
            all_done, needs_state = torch.stack([done.all(), wants_state]).tolist()
            final = all_done or step == max_new_tokens - 1
            if final and not needs_state:
                break
            mask = torch.cat([mask, mask.new_ones(n, 1)], dim=1)
            states_out, cache = run(embed_tokens(token)[:, None], cache, attention_mask=mask,
                                    position_ids=next_pos)
            last = states_out[:, -1]
            states.append(last)
            next_pos = next_pos + 1
            if final:
                break
        return torch.stack(picked, dim=1).tolist(), \
            torch.stack(states, dim=1) if states else None

    answers, seg_hidden = [], []
    for prompt in prompts:
        sequences, step_states = answer(*prompt)
        for b, seq in enumerate(sequences):
            end = stop.cut(seq)
            if end is not None:
                seq = seq[:end]
            seg_steps = [k for k, t in enumerate(seq) if t == seg_id]
            answers.append([t for t in seq if t != pad_id])
            seg_hidden.append(step_states[b, seg_steps] if seg_steps else
                              inputs_embeds.new_zeros(0, inputs_embeds.shape[-1]))
    return answers, seg_hidden
