"""PEFT 0.21.2's prefix-tuning forward for BertForSequenceClassification on transformers 5.24.

PEFT's own forward raises "Model does not support past key values" there, because transformers 5
renamed BertModel's `past_key_values` argument to `cache`. This does what PEFT's
`_prefix_tuning_forward` does (PEFT's prefix cache from `get_prompt`, the attention mask extended
with ones for the virtual tokens, the backbone's pooled output → dropout → classifier), with the
argument spelled the new way.
"""
import types

import torch


def bert_prefix_forward(model, input_ids, attention_mask, labels=None):
    """PEFT's `_prefix_tuning_forward` for BertForSequenceClassification, with the cache argument
    spelled as transformers 5 spells it."""
    n = model.peft_config["default"].num_virtual_tokens
    batch_size = input_ids.shape[0]
    cache = model.get_prompt(batch_size)
    mask = torch.cat((torch.ones(batch_size, n, dtype=attention_mask.dtype), attention_mask), dim=1)
    classifier = model.base_model
    pooled = classifier.bert(input_ids=input_ids, attention_mask=mask, cache=cache).pooler_output
    logits = classifier.classifier(classifier.dropout(pooled))
    loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
    return types.SimpleNamespace(logits=logits, loss=loss)
