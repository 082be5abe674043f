"""A tiny, randomly initialised SmolVLM (transformers' Idefics3 architecture) built from a config,
with a real processor (image splitter, tokenizer with the image tokens, chat template), saved
with save_pretrained: the folder omni loads exactly as it would load a downloaded SmolVLM.
Its answers are noise; its code path (processor, template, generation, streaming, stopping)
is the real one."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

SPECIAL = ["<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>", "<global-img>",
           "<unk>", "<pad>"]


def build_tiny_smolvlm(dest: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor,
                              Idefics3Processor, PreTrainedTokenizerFast)

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["what am I looking at", "read that sign", "it is a cup of coffee on a table",
              "the sign says platform four", "there is a person and a cat", "User Assistant answer"] * 20
    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL + rows,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
                                        unk_token="<unk>", pad_token="<pad>",
                                        additional_special_tokens=["<fake_token_around_image>", "<image>",
                                                                   "<global-img>"])
    image_size, patch, scale = 64, 16, 2
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 2 * image_size},
                                             max_image_size={"longest_edge": image_size})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=(image_size // patch) ** 2 // scale ** 2,
                                  chat_template=CHAT_TEMPLATE)
    vocab = len(tokenizer)
    config = Idefics3Config(
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=scale,
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": image_size, "patch_size": patch},
        text_config={"model_type": "llama", "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "max_position_embeddings": 1024, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        pad_token_id=tokenizer.pad_token_id)
    model = Idefics3ForConditionalGeneration(config).eval()
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest
