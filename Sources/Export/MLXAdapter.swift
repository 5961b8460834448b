import Adapters
import Diagnostics
import Foundation
import SafeTensors
import TrainingCore

/// mlx-lm's LoRA adapter layout, which `mlx_lm.generate --adapter-path` and `mlx_lm.fuse` read:
/// `adapters.safetensors` with `model.layers.N.<module>.lora_a` `[in, r]` and `lora_b` `[r, out]`
/// (DoRA adds the magnitude `m`), and `adapter_config.json` with `fine_tune_type`, `num_layers`
/// (LoRA sits on the model's last N layers) and `lora_parameters {rank, scale, dropout, keys}`.
///
/// mlx-lm has one rank and one scale for all modules: PEFT's per-module ranks are padded with
/// zeros to the largest (the product is unchanged) and per-module scales (rank_pattern,
/// alpha_pattern, rsLoRA's α/√r) are folded into `lora_b`, so every module's update B·A·scale is
/// exactly PEFT's.
public enum MLXAdapter {
    public static let weightsFile = "adapters.safetensors", configFile = "adapter_config.json"

    public struct Report: Codable, Sendable, Equatable {
        public var output: String
        public var modules: Int
        public var rank: Int
        public var scale: Double
        public var numLayers: Int
        public var fineTuneType: String

        enum CodingKeys: String, CodingKey, CaseIterable {
            case output, modules, rank, scale
            case numLayers = "num_layers"
            case fineTuneType = "fine_tune_type"
        }
    }

    /// One adapted module: its layer, its name inside the layer, and its factors (PEFT layout).
    struct Module {
        var layer: Int
        var key: String
        var a: Tensor
        var b: Tensor
        var magnitude: Tensor?
    }

    /// Writes the PEFT LoRA/DoRA adapter `files` for a model with `layers` decoder layers into `output`.
    public static func export(_ files: AdapterFiles, layers: Int, output: String) throws -> Report {
        let file = files.label
        let config = try LoRAConfig(json: files.configJSON(), file: file + "/" + PEFTAdapterFolder.configFile)
        guard config.modulesToSave.isEmpty else {
            throw AdapterError(
                file: file, "mlx-lm adapters cannot carry modules_to_save (\(config.modulesToSave)): merge into the base first")
        }
        guard config.bias == .none else {
            throw AdapterError(file: file, "mlx-lm adapters cannot carry trained biases (bias=\(config.bias.rawValue))")
        }
        let tensors = try files.tensors()
        var modules: [String: Module] = [:]
        let prefix = "base_model.model.model.layers."
        for (name, tensor) in tensors {
            guard name.hasPrefix(prefix) else {
                throw AdapterError(file: file, "tensor \(name) is not in a decoder layer (model.layers.N…): mlx-lm cannot load it")
            }
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else {
                throw AdapterError(file: file, "tensor \(name): no layer index")
            }
            var inner = String(rest[rest.index(after: dot)...])
            let part: String
            if inner.hasSuffix(".lora_A.weight") {
                part = "A"
            } else if inner.hasSuffix(".lora_B.weight") {
                part = "B"
            } else if inner.hasSuffix(".lora_magnitude_vector") || inner.hasSuffix(".lora_magnitude_vector.weight") {
                part = "m"
            } else {
                throw AdapterError(file: file, "tensor \(name) is not a LoRA factor mlx-lm knows")
            }
            inner = String(
                inner[..<inner.range(of: part == "m" ? ".lora_magnitude_vector" : (part == "A" ? ".lora_A" : ".lora_B"))!.lowerBound])
            let id = "\(layer).\(inner)"
            var module = modules[id] ?? Module(layer: layer, key: inner, a: tensor, b: tensor, magnitude: nil)
            switch part {
            case "A": module.a = tensor
            case "B": module.b = tensor
            default: module.magnitude = tensor
            }
            modules[id] = module
        }
        guard !modules.isEmpty else { throw AdapterError(file: file, "has no LoRA factors") }
        let used = Set(modules.values.map(\.layer))
        let first = layers - used.count
        guard used == Set(first..<layers) else {
            throw AdapterError(
                file: file,
                "adapts layers \(used.sorted()) of \(layers): mlx-lm puts LoRA on the last num_layers layers only")
        }
        let keys = Set(modules.values.map(\.key)).sorted()
        guard modules.count == keys.count * used.count else {
            throw AdapterError(file: file, "adapts different modules in different layers: mlx-lm uses one list of keys for every layer")
        }
        let rank = modules.values.map { $0.a.rows }.max()!
        let scale = config.scale(for: "model.layers.\(layers - 1).\(keys[0])")
        var out: [TensorData] = []
        for id in modules.keys.sorted() {
            let module = modules[id]!
            let (r, inFeatures, outFeatures) = (module.a.rows, module.a.columns, module.b.rows)
            guard module.b.columns == r else {
                throw AdapterError(file: file, "\(id): lora_B is \(module.b.shape) for lora_A \(module.a.shape)")
            }
            let factor = Float(config.scale(for: "model.layers." + id) / scale)
            // lora_a [in, rank]: Aᵀ, zero columns past this module's r.
            var a = [Float](repeating: 0, count: inFeatures * rank)
            for i in 0..<r { for j in 0..<inFeatures { a[j * rank + i] = module.a.values[i * inFeatures + j] } }
            // lora_b [rank, out]: Bᵀ times the module's scale over the shared one.
            var b = [Float](repeating: 0, count: rank * outFeatures)
            for o in 0..<outFeatures { for i in 0..<r { b[i * outFeatures + o] = module.b.values[o * r + i] * factor } }
            let name = "model.layers.\(module.layer).\(module.key)"
            out.append(TensorData(name: name + ".lora_a", shape: [inFeatures, rank], floats: a))
            out.append(TensorData(name: name + ".lora_b", shape: [rank, outFeatures], floats: b))
            if let m = module.magnitude { out.append(TensorData(name: name + ".m", shape: [m.count], floats: m.values)) }
        }
        let type = modules.values.contains { $0.magnitude != nil } ? "dora" : "lora"
        let json: [String: Any] = [
            "fine_tune_type": type, "num_layers": used.count,
            "lora_parameters": ["rank": rank, "scale": scale, "dropout": Double(config.dropout), "keys": keys] as [String: Any],
        ]
        try ScratchFolder.build(output) { scratch in
            try SafeTensorsWriter.write(out, metadata: ["format": "mlx"], to: scratch + "/" + weightsFile)
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: scratch + "/" + configFile))
        }
        return Report(output: output, modules: modules.count, rank: rank, scale: scale, numLayers: used.count, fineTuneType: type)
    }
}

extension MLXAdapter {
    /// Reads an mlx-lm adapter folder back into a PEFT LoRA (or DoRA) adapter folder at `output`
    /// for the base `baseModel`: lora_A = lora_aᵀ, lora_B = lora_bᵀ, alpha = scale · rank.
    public static func importAdapter(_ folder: String, output: String, baseModel: String?) throws -> Report {
        let configPath = folder + "/" + configFile
        let data = Data(try TextFile.bytes(configPath, for: AdaptersModule.self))
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw AdapterError(file: configPath, "not a JSON object")
        }
        let type = json["fine_tune_type"] as? String ?? "lora"
        guard type == "lora" || type == "dora" else {
            throw AdapterError(file: configPath, "fine_tune_type \(type) is not a LoRA adapter (lora, dora)")
        }
        guard let parameters = json["lora_parameters"] as? [String: Any], let scale = (parameters["scale"] as? NSNumber)?.doubleValue,
            scale.isFinite
        else { throw AdapterError(file: configPath, "needs lora_parameters with a scale") }
        let weightsPath = folder + "/" + weightsFile
        // Read as a PEFT folder's files are: f32 values, non-finite ones refused.
        let weights = try AdapterFiles(
            files: [
                PEFTAdapterFolder.configFile: Array(data),
                PEFTAdapterFolder.weightsFile: Array(try TextFile.bytes(weightsPath, for: AdaptersModule.self)),
            ],
            label: folder
        ).tensors()
        var out: [TensorData] = [], targets: [String] = []
        var rank = 0
        for name in weights.keys.sorted() where name.hasSuffix(".lora_a") {
            let module = String(name.dropLast(".lora_a".count))
            guard module.hasPrefix("model.layers."), let a = weights[name], let b = weights[module + ".lora_b"], a.shape.count == 2,
                b.shape.count == 2, a.columns == b.rows
            else { throw AdapterError(file: weightsPath, "\(module): lora_a and lora_b do not pair up ([in, r] and [r, out])") }
            let (inFeatures, r, outFeatures) = (a.rows, a.columns, b.columns)
            rank = max(rank, r)
            var lowA = [Float](repeating: 0, count: r * inFeatures), lowB = [Float](repeating: 0, count: outFeatures * r)
            for j in 0..<inFeatures { for i in 0..<r { lowA[i * inFeatures + j] = a.values[j * r + i] } }
            for i in 0..<r { for o in 0..<outFeatures { lowB[o * r + i] = b.values[i * outFeatures + o] } }
            let key = "base_model.model." + module
            out.append(TensorData(name: key + ".lora_A.weight", shape: [r, inFeatures], floats: lowA))
            out.append(TensorData(name: key + ".lora_B.weight", shape: [outFeatures, r], floats: lowB))
            if let m = weights[module + ".m"] {
                out.append(TensorData(name: key + ".lora_magnitude_vector", shape: [m.count], floats: m.values))
            }
            targets.append(module)
        }
        guard !targets.isEmpty else { throw AdapterError(file: weightsPath, "has no lora_a/lora_b pairs") }
        var config = LoRAConfig(
            r: rank, alpha: scale * Double(rank), targets: .names(targets),
            dropout: Float((parameters["dropout"] as? NSNumber)?.doubleValue ?? 0),
            taskType: "CAUSAL_LM", baseModel: baseModel)
        config.useDoRA = type == "dora"
        // Ranks below the largest keep their own (rank_pattern) so alpha/r stays the scale.
        for tensor in out where tensor.spec.name.hasSuffix(".lora_A.weight") && tensor.spec.shape[0] != rank {
            let module = String(tensor.spec.name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count))
            config.rankPattern[NSRegularExpression.escapedPattern(for: module)] = tensor.spec.shape[0]
            config.alphaPattern[NSRegularExpression.escapedPattern(for: module)] = scale * Double(tensor.spec.shape[0])
        }
        try ScratchFolder.build(output) { scratch in
            try SafeTensorsWriter.write(out, metadata: ["format": "pt"], to: scratch + "/" + PEFTAdapterFolder.weightsFile)
            try Data(config.jsonText().utf8).write(to: URL(fileURLWithPath: scratch + "/" + PEFTAdapterFolder.configFile))
        }
        return Report(
            output: output, modules: targets.count, rank: rank, scale: scale, numLayers: json["num_layers"] as? Int ?? 0, fineTuneType: type
        )
    }
}
