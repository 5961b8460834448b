import Foundation

/// How llama.cpp names and lays out a Llama-family checkpoint (its convert_hf_to_gguf.py):
/// tensor names, and the row order of q and k it expects for its rotary implementation.
enum LlamaCppLayout {
    /// llama.cpp's architecture for a config.json `model_type` (Mistral is run as Llama).
    static func architecture(modelType: String) -> String? {
        ["llama": "llama", "mistral": "llama", "qwen2": "qwen2"][modelType]
    }

    static let layerNames: [(String, String)] = [
        ("input_layernorm", "attn_norm"), ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"), ("post_attention_layernorm", "ffn_norm"),
        ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down"),
    ]

    /// llama.cpp's name of the Hugging Face tensor or module `name` (".weight"/".bias" kept).
    static func name(of hfName: String) -> String? {
        let (module, suffix) = split(hfName)
        switch module {
        case "model.embed_tokens": return "token_embd" + suffix
        case "model.norm": return "output_norm" + suffix
        case "lm_head": return "output" + suffix
        default: break
        }
        let prefix = "model.layers."
        guard module.hasPrefix(prefix) else { return nil }
        let rest = module.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let inner = String(rest[rest.index(after: dot)...])
        guard let mapped = layerNames.first(where: { $0.0 == inner })?.1 else { return nil }
        return "blk.\(layer).\(mapped)" + suffix
    }

    static func split(_ name: String) -> (module: String, suffix: String) {
        for suffix in [".weight", ".bias"] where name.hasSuffix(suffix) { return (String(name.dropLast(suffix.count)), suffix) }
        return (name, "")
    }

    /// The heads to permute a tensor's rows over, for llama.cpp's "llama" architecture: q by the
    /// attention heads, k by the key/value heads; nil for every other tensor (and for Qwen2,
    /// whose converter keeps Hugging Face's order).
    static func permutationHeads(of hfName: String, architecture: String, heads: Int, kvHeads: Int) -> Int? {
        guard architecture == "llama", hfName.hasSuffix(".weight") else { return nil }
        if hfName.hasSuffix("self_attn.q_proj.weight") { return heads }
        if hfName.hasSuffix("self_attn.k_proj.weight") { return kvHeads }
        return nil
    }

    /// Rows of `values` `[rows, columns]` reordered as the converter's `permute`: within each of
    /// `heads` heads, the two halves of the head's rows are interleaved (Hugging Face's rotary
    /// pairs dimension i with i + d/2; llama.cpp's pairs 2i with 2i + 1). `inverse` undoes it.
    static func permuteRows(_ values: [Float], rows: Int, columns: Int, heads: Int, inverse: Bool = false) -> [Float] {
        let headRows = rows / heads, half = headRows / 2
        var out = values
        for h in 0..<heads {
            for j in 0..<half {
                for t in 0..<2 {
                    let interleaved = h * headRows + j * 2 + t, halves = h * headRows + t * half + j
                    let (target, source) = inverse ? (halves, interleaved) : (interleaved, halves)
                    for c in 0..<columns { out[target * columns + c] = values[source * columns + c] }
                }
            }
        }
        return out
    }
}
