"""Chat templates: ChatML (Qwen2 / InternLM2), Sa2VA-4B's phi3, the error for unknown names."""
import pytest

from desa2va_mm.tokenization import CHAT_TEMPLATES, get_chat_template


def test_chatml_pieces_assemble_a_turn():
    template = get_chat_template('qwen2')
    assert get_chat_template('internlm2') is template  # both InternVL2.5 LLMs use ChatML
    turn = (template.system.format(system='be brief') + template.user_prefix + 'hi'
            + template.user_suffix + template.assistant_prefix + 'ok'
            + template.assistant_suffix)
    assert turn == ('<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n'
                    '<|im_start|>assistant\nok<|im_end|>')
    assert template.stop_words == ('<|im_end|>', '<|endoftext|>')


#: Two turns rendered with xtuner's phi3_chat as Sa2VA-4B's training does (magic-research/Sa2VA
#: projects/llava_sam2/hf/models/templates.py ``PROMPT_TEMPLATE['phi3_chat']``: SYSTEM
#: '<|system|>\n{system}<|end|>\n', INSTRUCTION '<|user|>\n{input}<|end|>\n<|assistant|>\n',
#: SUFFIX '<|end|>', SEP '\n'; the system prompt leads the first turn, every answer is
#: followed by SUFFIX (supervised) and SEP (not), xtuner's template_map_fn / encode_fn).
PHI3_CONVERSATION = (
    '<|system|>\nbe brief<|end|>\n'
    '<|user|>\nPlease segment the cat.<|end|>\n<|assistant|>\nSure, [SEG].<|end|>\n'
    '<|user|>\nand the dog?<|end|>\n<|assistant|>\nIt is [SEG].<|end|>\n')
TURNS = [dict(user='Please segment the cat.', assistant='Sure, [SEG].'),
         dict(user='and the dog?', assistant='It is [SEG].')]


def test_phi3_renders_sa2va_4b_conversation():
    t = get_chat_template('phi3')
    text = t.system.format(system='be brief')
    for turn in TURNS:
        text += (t.user_prefix + turn['user'] + t.user_suffix + t.assistant_prefix
                 + turn['assistant'] + t.assistant_suffix + t.separator)
    assert text == PHI3_CONVERSATION
    assert t.stop_words == ('<|end|>', )
    assert t is not get_chat_template('qwen2')


def test_tokenize_conversation_with_phi3_decodes_to_sa2va_text():
    """Through the pipeline step: ids decode to Sa2VA's string, labels to answer + <|end|>."""
    from transformers import PreTrainedTokenizerFast

    from desa2va_mm.datasets.transforms import TokenizeConversation
    from desa2va_mm.testing import train_byte_level_bpe
    bpe = train_byte_level_bpe([PHI3_CONVERSATION] * 4, vocab_size=300)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    tokenizer.add_special_tokens({'additional_special_tokens': ['[SEG]']})
    step = TokenizeConversation(tokenizer=tokenizer, template='phi3', system='be brief')
    out = step.transform(dict(conversation=[dict(t) for t in TURNS],
                              text=['the cat', 'the dog']))
    ids, labels = out['input_ids'][0], out['labels'][0]
    assert tokenizer.decode(ids.tolist()) == PHI3_CONVERSATION
    # Supervised: each answer and its <|end|>; never the prompt or the separator.
    kept = labels != -100
    spans, start = [], None
    for i, flag in enumerate(kept.tolist() + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            spans.append(tokenizer.decode(ids[start:i].tolist()))
            start = None
    assert spans == ['Sure, [SEG].<|end|>', 'It is [SEG].<|end|>']


def test_unknown_template_names_the_options():
    with pytest.raises(ValueError, match=r"Unknown chat template 'vicuna'; options: "
                       r"\['internlm2', 'phi3', 'qwen2'\]"):
        get_chat_template('vicuna')
    assert sorted(CHAT_TEMPLATES) == ['internlm2', 'phi3', 'qwen2']
