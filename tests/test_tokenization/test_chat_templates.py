"""Chat templates: the ChatML pieces of Qwen2 / InternLM2 and the error for unknown names."""
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


def test_unknown_template_names_the_options():
    with pytest.raises(ValueError, match=r"Unknown chat template 'vicuna'; options: "
                       r"\['internlm2', 'qwen2'\]"):
        get_chat_template('vicuna')
    assert sorted(CHAT_TEMPLATES) == ['internlm2', 'qwen2']
